// The Go embed fixture (scripts/build-single-file-fixtures): the payload lives in .rodata
// through //go:embed. os/user with cgo makes the program dynamic (PT_INTERP, DT_NEEDED libc),
// so there is something for swelf to edit; without cgo Go links statically.
package main

import (
	_ "embed"
	"fmt"
	"os/user"
)

//go:embed payload.txt
var payload string

func main() {
	// Touch the cgo lookup so the linker keeps libc; the result does not matter.
	_, _ = user.Current()
	fmt.Print(payload)
}
