(list (build-machine
       (name "a.example.org")
       (user "offload")
       (host-key "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh")))
