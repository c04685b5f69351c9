(list (build-machine
       (name "a.example.org")
       (user "offload")
       (private-key "/nonexistent/yonder-test/id_ed25519")))
