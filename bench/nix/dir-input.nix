# a trivial derivation whose one input is a directory of many small files
# (dir = a store path already in the local store, from nix-store --add)
{ dir, nonce ? "0" }:
builtins.derivation {
  name = "peer-dir-input";
  system = "x86_64-linux";
  builder = "/bin/sh";
  input = builtins.storePath dir;
  args = [ "-c" "test -d $input && echo ${nonce} $input > $out" ];
}
