(list (build-machine
       (name "a.example.org")
       (sytems (list "x86_64-linux"))
       (user "offload")))
