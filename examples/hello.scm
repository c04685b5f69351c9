;; hello: the smallest derivation, with one output.
;;
;;   yonder derivation examples/hello.scm    # writes the .drv, prints its path
;;   yonder build examples/hello.scm         # builds it, prints the output path
;;
;; The builder runs with PATH=/path-not-set, so every tool is named by its
;; absolute path (here only the shell's own `echo` is used).
(derivation
  (name "hello")
  (system %current-system)
  (builder "/bin/sh")
  (args "-c" "echo 'Hello, world!' > $out"))
