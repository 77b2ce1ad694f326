// The smallest useful spec: the default rootfs (a read-only view of the host's /usr, /bin, /lib*,
// /etc on a fresh tmpfs), the default namespaces, and a hostname. Run: npx niwa run examples/hello.container.ts
import { defineContainer } from 'niwa';

export default defineContainer({
  name: 'hello',
  hostname: 'hello',
  process: {
    args: ['/bin/sh', '-c', 'echo hello from $(hostname); id; echo pid $$'],
  },
});
