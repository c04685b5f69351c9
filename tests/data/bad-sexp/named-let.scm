(let loop ((i 0)) i)
