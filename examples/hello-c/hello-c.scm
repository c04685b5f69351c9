;; hello-c: a small C program compiled in several derivations — one per
;; object file — then linked in another, and run in a last one.  Changing
;; one .c file rebuilds only its object and what follows.
;;
;;   yonder build examples/hello-c/hello-c.scm
;;
;; The tool is the host's /usr/bin/gcc.  Builds run with PATH=/path-not-set,
;; and gcc finds `as` and `ld` through PATH; -B/usr/bin/ tells it where they
;; are instead (so no PATH is needed in the environment).
(define gcc "/usr/bin/gcc -B/usr/bin/")

;; The headers, added to the store as one directory: the store path is
;; named "include" and given to gcc with -I.
(define include (local-file "include"))

;; The object file of NAME.c: one output, the .o file itself.
(define (object name)
  (derivation
    (name (string-append "hello-c-" name ".o"))
    (system %current-system)
    (builder "/bin/sh")
    (args "-c" (string-append gcc " -O2 -Wall -I" include
                              " -c " (local-file (string-append name ".c"))
                              " -o $out"))))

(define objects (map object (list "main" "greet" "count")))

;; Links the objects into $out/bin/hello-c.  A list in 'env' becomes one
;; variable, its elements separated by spaces (as in Nix), and each object
;; derivation becomes an input of this one.
(define program
  (derivation
    (name "hello-c")
    (system %current-system)
    (builder "/bin/sh")
    (env ("objects" objects))
    (args "-c" (string-append "/bin/mkdir $out && /bin/mkdir $out/bin && "
                              gcc " -o $out/bin/hello-c $objects"))))

;; Runs the program; its output is what the program printed.
(define greeting
  (derivation
    (name "hello-c-greeting")
    (system %current-system)
    (builder "/bin/sh")
    (args "-c" (string-append program "/bin/hello-c 'recipe reader' > $out"))))

(list program greeting)
