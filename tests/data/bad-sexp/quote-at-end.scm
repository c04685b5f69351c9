(define systems (list "x86_64-linux"))
'
