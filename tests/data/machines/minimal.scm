;;; minimal.scm — only the required fields: everything else is a default
;;; (the private key is the daemon user's ~/.ssh/id_ed25519, else id_rsa).
(list (build-machine
       (name "minimal.example.org")
       (user "nix")))
