;;; guix-example.scm — a machines file as Guix users write them
;;; (/etc/guix/machines.scm, read by 'guix offload'): the file's value is
;;; the list of build machines.  yonder reads it from
;;; $YONDER_CONFIG_DIR/machines.scm.

#| The keys live in the daemon user's home; HOME is read when the file
   is evaluated, so one file serves several hosts. |#
(define key-directory
  (string-append (getenv "HOME") "/.ssh"))

;; Both machines share the user and the port.
(define (machine name systems key speed)
  (build-machine
   (name name)
   (systems systems)
   (user "offload")
   (port 22)
   (private-key (string-append key-directory "/" key))
   (speed speed)))          ;relative to the local machine

(list (machine "eightysix.example.org"
               (list "x86_64-linux" "i686-linux")
               "id_ed25519"
               2.)              ;incredibly fast!
      (build-machine
       (name "armeight.example.org")
       (systems '("aarch64-linux"))
       (host-key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmJ2JZ7mYkB8Z9yQ0f3Uu1bQx9n0jWmQe9XyZrjL2pA root@armeight")
       (user "alice")
       (parallel-builds 4)
       (features '("kvm" "big-parallel"))
       #;(speed 0.5)              ; not measured yet
       (private-key (string-append key-directory "/id_rsa"))))
