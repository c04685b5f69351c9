(define d (derivation (name "lib") (system "x86_64-linux") (builder "/bin/sh")))
(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
  (args "-c" (string-append "cat " (output d "dev"))))
