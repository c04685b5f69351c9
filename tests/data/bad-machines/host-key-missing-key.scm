(list (build-machine (name "a.example.org") (user "offload") (host-key "ssh-ed25519")))
