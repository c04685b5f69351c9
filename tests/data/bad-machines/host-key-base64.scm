(list (build-machine
       (name "a.example.org")
       (user "offload")
       (host-key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpv!xGPPygfZbD7z+Yh")))
