;; Guix's SSH compression string is not a yonder compression.
(list (build-machine
       (name "a.example.org")
       (user "offload")
       (compression "zlib@openssh.com,zlib")))
