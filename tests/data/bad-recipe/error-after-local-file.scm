;; The local-file and plain-file are fine, the derivation is not: nothing
;; may be added to the store.
(define src (local-file "error-after-local-file.scm" #:name "some-source"))
(define text (plain-file "notes.txt" "hi\n"))
(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
  (args src text)
  (colour "blue"))
