;; A field of Guix's build-machine that yonder has no use for.
(list (build-machine
       (name "a.example.org")
       (user "offload")
       (daemon-socket "/var/guix/daemon-socket/socket")))
