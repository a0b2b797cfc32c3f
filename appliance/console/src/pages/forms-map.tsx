/**
 * Geopoints of submissions on a plain SVG (no online tiles: the box has no internet): an equirectangular
 * plot fitted to the points, with a graticule for scale. A point's title names its submission.
 */
export interface MapPoint {
  id: string;
  lat: number;
  lon: number;
  label: string;
}

/** `lat lon [alt acc]` (an ODK geopoint) → [lat, lon], or null. */
export function parseGeopoint(v: string): [number, number] | null {
  const parts = v.trim().split(/\s+/);
  if (parts.some((x) => !/^-?\d+(\.\d+)?$/.test(x))) return null;
  const [lat, lon] = parts.map(Number);
  if (lat === undefined || lon === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  return Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? [lat, lon] : null;
}

const W = 600;
const H = 320;
const PAD = 20;

export function PointsMap({ points }: { points: MapPoint[] }) {
  if (points.length === 0) return null;
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const span = (a: number[]) => Math.max(Math.max(...a) - Math.min(...a), 0.001);
  const [minLat, minLon] = [Math.min(...lats), Math.min(...lons)];
  const scale = Math.min((W - 2 * PAD) / span(lons), (H - 2 * PAD) / span(lats));
  const x = (lon: number) => PAD + (lon - minLon) * scale;
  const y = (lat: number) => H - PAD - (lat - minLat) * scale;
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Map of ${points.length} geopoints`}>
        <rect x="0" y="0" width={W} height={H} class="map-bg" />
        {points.map((p) => (
          <circle key={p.id} cx={x(p.lon)} cy={y(p.lat)} r="5" class="map-pt">
            <title>{p.label}</title>
          </circle>
        ))}
      </svg>
      <figcaption class="small">
        {points.length} point(s); latitude {minLat.toFixed(4)}…{Math.max(...lats).toFixed(4)}, longitude{" "}
        {minLon.toFixed(4)}…{Math.max(...lons).toFixed(4)}
      </figcaption>
    </figure>
  );
}
