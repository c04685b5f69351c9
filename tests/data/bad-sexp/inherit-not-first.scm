(define m (build-machine (name "a")))
(build-machine (name "b") (inherit m))
