package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"newsbot/internal/article"
)

// What the directory watcher reads, and what it refuses unread.

// isArticleFile tells article files from editors' temporary and backup files.
func isArticleFile(name string) bool {
	return strings.HasSuffix(name, ".json") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
}

// list returns the article files of the directory, lstat'd: everything but directories,
// so that a symlink or a FIFO named .json is reported, not silently skipped.
func (d *Dir) list() ([]fs.FileInfo, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("read articles dir %s: %w", d.dir, err)
	}
	defer f.Close()
	all, err := f.Readdir(-1)
	if err != nil {
		return nil, fmt.Errorf("read articles dir %s: %w", d.dir, err)
	}
	out := all[:0]
	for _, fi := range all {
		if isArticleFile(fi.Name()) && !fi.IsDir() {
			out = append(out, fi)
		}
	}
	return out, nil
}

// read reads an article file through the directory's root. refused is set, and nothing
// read, when the file is refused: a symlink out of the directory, not a regular file, or over
// article.MaxSize. fi is the file's own (not the link's) info when it could be opened.
func (d *Dir) read(name string) (data []byte, fi fs.FileInfo, refused, err error) {
	lfi, err := d.root.Lstat(name)
	if err != nil {
		return nil, nil, nil, err
	}
	link := lfi.Mode()&fs.ModeSymlink != 0
	if !link && !lfi.Mode().IsRegular() {
		return nil, nil, refusal("not a regular file"), nil // a FIFO, socket or device: never opened
	}
	// O_NONBLOCK: a link to a FIFO inside the directory must not wait for a writer (it is
	// refused just after).
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if link && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, nil, refusal("a symbolic link that leads out of ARTICLES_DIR; only files inside it are read"), nil
		}
		return nil, nil, nil, err // a link to nothing is as a file not there yet
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, refusal("not a regular file"), nil
	}
	if err := article.CheckSize(fi.Size()); err != nil {
		return nil, fi, err, nil
	}
	// Read at most one byte past the cap: a file that grew since the Stat is refused too.
	data, err = io.ReadAll(io.LimitReader(f, article.MaxSize+1))
	if err != nil {
		return nil, nil, nil, err
	}
	if err := article.CheckSize(int64(len(data))); err != nil {
		return nil, fi, err, nil
	}
	return data, fi, nil, nil
}

// refusal is why a file or entry is refused as a whole, in the form of a field problem.
func refusal(reason string) error { return &article.FieldError{Field: "article", Reason: reason} }
