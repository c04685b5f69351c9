(list (build-machine
       (name "a.example.org")
       (user "offload")
       (compression "zstd:25")))
