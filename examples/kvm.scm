;; A derivation that requires a system feature: (features "kvm") sets
;; requiredSystemFeatures, as in Nix.  The daemon sends it only to a build
;; machine whose machines.scm entry lists that feature (features '("kvm")),
;; and tells at once when none does.  Nothing here checks that the machine
;; really has /dev/kvm: a feature is a promise made in machines.scm.
;;
;; The output records where the build ran (the builder's host name).
;;
;;   yonder build examples/kvm.scm     # with a daemon that knows a "kvm" machine
(derivation
  (name "kvm-check")
  (system %current-system)
  (features "kvm")
  (builder "/bin/sh")
  (args "-c" "echo \"built on $(/bin/uname -n), a machine with the kvm feature\" > $out"))
