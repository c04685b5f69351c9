;;; full.scm — every field of a build machine, with the forms real Guix
;;; files use: use-modules (ignored), define, string-append, getenv,
;;; quote and inherit.  Loaded by tests/unit/test_machines.c with HOME set
;;; to a scratch directory that holds .ssh/id_ed25519 and .ssh/id_rsa.
(use-modules (gnu) (guix) (srfi srfi-1))

(define %ssh (string-append (getenv "HOME") "/.ssh"))

;; A template: never listed itself.
(define small
  (build-machine
   (name "template.example.org")
   (user "offload")
   (systems (list "aarch64-linux"))
   (parallel-builds 2)))

(list (build-machine
       (name "big.example.org")
       (port 2222)
       (systems (list "x86_64-linux" "i686-linux"))
       (user "bob")
       (private-key (string-append %ssh "/id_rsa"))
       (host-key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh  root@big  ")
       (parallel-builds 8)
       (speed 2.5)
       (features '("kvm" "big-parallel"))
       (mandatory-features '("benchmark"))
       (compression "zstd:9")
       (overload-threshold 0.95)
       (connect-timeout 3))
      (build-machine
       (inherit small)
       (name "pi.example.org")
       (speed 1)                        ;an integer is a number too
       (compression "none")
       (overload-threshold #f)
       (connect-timeout 2.5))
      (build-machine
       (inherit small)
       (name "fe80::1")
       (system "armv7l-linux")          ;Guix's single system
       (host-key #f)
       (compression "zstd")))
