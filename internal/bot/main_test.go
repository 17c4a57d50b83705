package bot

import (
	"os"
	"testing"

	"newsbot/internal/redistest"
)

// TestMain stops the package's shared redis-server after the tests (intake and readers'
// tests alike use it through redistest.New).
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
