// `niwa compose port [--protocol tcp|udp] SERVICE PRIVATE_PORT`: the host address a published port
// of the service's container listens on (HOST_IP:PORT), from the ports its supervisor publishes.
import { UserError } from '../../errors.js';
import { engineOf, replicaOf, servicesOf, type Run } from './project.js';

export const port: Run = async (a, project) => {
  const [service, privatePort, ...extra] = a.positionals;
  const usage = 'usage: niwa compose port [--protocol tcp|udp] SERVICE PRIVATE_PORT';
  if (!service || !privatePort || extra.length) throw new UserError('E_USAGE', 'compose port: expected a SERVICE and a PRIVATE_PORT', [], usage);
  const n = Number(privatePort);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UserError('E_USAGE', `compose port: '${privatePort}' is not a port number`, [], usage);
  const protocol = String(a.flags.protocol ?? 'tcp');
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UserError('E_USAGE', `compose port: unknown --protocol '${protocol}'`, [], 'use tcp or udp');
  const { load, engine } = await engineOf(project);
  servicesOf(load, [service]);
  const name = replicaOf(engine, service, a.flags.index, 'port');
  const st = engine.state(name);
  if (!st || (st.status !== 'running' && st.status !== 'paused')) throw new UserError('E_NOT_RUNNING', `compose port: ${service} has no running container`, [], `start it with niwa compose up -d ${service}`);
  const m = engine.portsOfContainer(name).find((p) => p.containerPort === n && p.protocol === protocol);
  if (!m) throw new UserError('E_NO_PORT', `compose port: ${service} publishes no port ${n}/${protocol}`, [], 'see niwa compose ps for its ports');
  if (m.hostPort === 0) throw new UserError('E_NO_PORT', `compose port: ${service} publishes ${n}/${protocol} on a port chosen when it started, and its record (from an older niwa) does not say which`, [], 'recreate it: niwa compose up -d --force-recreate ' + service);
  process.stdout.write(`${m.hostIp}:${m.hostPort}\n`);
  return 0;
};
