// go-cgo: CGO_ENABLED=1 and imports "net", so it links libc dynamically.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	addrs, err := net.LookupHost("localhost")
	if err != nil || len(addrs) == 0 {
		fmt.Println("go cgo lookup failed:", err)
		os.Exit(1)
	}
	fmt.Println("hello from go (cgo)")
}
