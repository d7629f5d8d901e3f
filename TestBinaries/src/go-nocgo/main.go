// go-nocgo: CGO_ENABLED=0, fully static Go binary.
package main

import "fmt"

func main() {
	fmt.Println("hello from go (nocgo)")
}
