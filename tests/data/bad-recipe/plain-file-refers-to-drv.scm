(define d (derivation (name "lib") (system "x86_64-linux") (builder "/bin/sh")))
(define script (plain-file "builder.sh" (string-append "cat " d)))
(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh") (args script))
