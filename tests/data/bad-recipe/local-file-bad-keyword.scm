(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
  (args (local-file "local-file-bad-keyword.scm" #:recursive #t)))
