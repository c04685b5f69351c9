;; A line copied from known_hosts, host name included.
(list (build-machine
       (name "a.example.org")
       (user "offload")
       (host-key "a.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh")))
