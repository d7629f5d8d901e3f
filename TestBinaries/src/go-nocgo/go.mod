module example.com/gonocgo

go 1.19
