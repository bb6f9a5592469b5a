// Longitude/latitude (RGF93) to Lambert-93 (EPSG:2154), the CRS in which the segmentation page asks the WMS for
// ortho: the resolution in metres is only meaningful in a projected CRS, and L93 is the one of BD ORTHO.
const A = 6378137;
const F = 1 / 298.257222101;
const E = Math.sqrt(2 * F - F * F);
const RAD = Math.PI / 180;
const m = (phi) => Math.cos(phi) / Math.sqrt(1 - (E * Math.sin(phi)) ** 2);
const tt = (phi) => Math.tan(Math.PI / 4 - phi / 2) / ((1 - E * Math.sin(phi)) / (1 + E * Math.sin(phi))) ** (E / 2);
const [P1, P2, P0, L0] = [49 * RAD, 44 * RAD, 46.5 * RAD, 3 * RAD];
const N = (Math.log(m(P1)) - Math.log(m(P2))) / (Math.log(tt(P1)) - Math.log(tt(P2)));
const AF = (A * m(P1)) / (N * tt(P1) ** N);
const RHO0 = AF * tt(P0) ** N;

export function toLambert93(lng, lat) {
  const rho = AF * tt(lat * RAD) ** N;
  const theta = N * (lng * RAD - L0);
  return [700000 + rho * Math.sin(theta), 6600000 + RHO0 - rho * Math.cos(theta)];
}
