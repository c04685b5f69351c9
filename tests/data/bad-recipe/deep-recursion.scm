;; Endless recursion through the derivation form: stopped at the depth
;; limit, with no crash (the evaluation has its own big stack).
(define (f x)
  (derivation (name "loop") (system "x86_64-linux") (builder "/bin/sh")
    (args (f x))))
(f 1)
