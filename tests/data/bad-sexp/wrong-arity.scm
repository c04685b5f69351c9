(define (machine name) (build-machine (name name)))
(list (machine "a" "b"))
