(list (build-machine
       (name host)
       (user "offload")))
