module swelf.test/goembed

go 1.19
