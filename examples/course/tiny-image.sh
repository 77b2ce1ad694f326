#!/bin/sh
# Makes a tiny two-layer OCI image layout in DIR for lesson 16, from this host's /bin/sh and the
# libraries it needs; nothing is downloaded. Uses only sh, coreutils, tar and ldd.
#   sh examples/course/tiny-image.sh /tmp/niwa-tiny && niwa image import /tmp/niwa-tiny lesson-tiny:1
# Layer 1: /bin/sh and its libraries. Layer 2: /hello.txt. The config runs /bin/sh.
set -eu
out=${1:?usage: tiny-image.sh DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/blobs/sha256" "$work/l1/bin" "$work/l2"

# Layer 1: the shell (the file behind /bin/sh) and every library ldd names, at the same paths.
cp -L /bin/sh "$work/l1/bin/sh"
for lib in $(ldd /bin/sh | grep -o '/[^ ]*'); do
  mkdir -p "$work/l1$(dirname "$lib")"
  cp -L "$lib" "$work/l1$lib"
done
# Layer 2: one file on top.
echo "from the top layer" > "$work/l2/hello.txt"

# A blob is stored under its sha256; print "digest size".
blob() {
  d=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$out/blobs/sha256/$d"
  echo "$d $(wc -c < "$1")"
}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/l1" -cf "$work/l1.tar" .
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/l2" -cf "$work/l2.tar" .
set -- $(blob "$work/l1.tar"); l1=$1; l1size=$2
set -- $(blob "$work/l2.tar"); l2=$1; l2size=$2

case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh","-c","read -r l < /hello.txt; echo \\"$l\\""]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
  "$arch" "$l1" "$l2" > "$work/config.json"
set -- $(blob "$work/config.json"); cfg=$1; cfgsize=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$cfg" "$cfgsize" "$l1" "$l1size" "$l2" "$l2size" > "$work/manifest.json"
set -- $(blob "$work/manifest.json"); man=$1; mansize=$2
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
  "$man" "$mansize" > "$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
echo "wrote an OCI image layout with 2 layers to $out"
