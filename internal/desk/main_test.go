package desk

import (
	"os"
	"testing"

	"newsbot/internal/redistest"
)

// TestMain stops the package's shared redis-server after the tests (every test that needs
// Redis gets its own prefix of it through redistest.New).
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
