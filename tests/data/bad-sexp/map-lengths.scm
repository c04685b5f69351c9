(map string-append '("a" "b") '("c"))
