module github.com/herdmon/herd

go 1.26.8
