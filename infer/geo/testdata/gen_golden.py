#!/usr/bin/python3
"""Regenerate the golden reference values for package geo.

Uses pyproj.Geod(ellps='WGS84').fwd, which is GeographicLib's direct geodesic
solution (via PROJ), as the independent reference. Run with Debian's python:

    apt-get install -y python3-pyproj
    /usr/bin/python3 infer/geo/testdata/gen_golden.py

The Go tests read only the committed JSON; Python is not needed to test.
"""
import json
import math
import os

import pyproj

HERE = os.path.dirname(os.path.abspath(__file__))
GEOD = pyproj.Geod(ellps='WGS84')


def direct_cases():
    lats = [-90.0, -89.9, -60.0, -30.0, 0.0, 1e-7, 30.0, 45.0, 60.0, 80.0, 89.9, 90.0]
    lons = [0.0, 7.0, 179.9, -179.9, -45.5]
    azis = [0.0, 30.0, 90.0, 135.0, 180.0, 225.0, 270.0, 333.3, -10.0]
    dists = [0.0, 1.0, 10.0, 1000.0, 1e4, 1e5, 5e5, 1e6, 5e6]
    out = []
    i = 0
    for lat in lats:
        for azi in azis:
            for d in dists:
                lon = lons[i % len(lons)]
                i += 1
                lon2, lat2, _ = GEOD.fwd(lon, lat, azi, d)
                out.append({"lat_deg": lat, "lon_deg": lon, "azimuth_deg": azi,
                            "distance_m": d, "lat2_deg": lat2, "lon2_deg": lon2})
    return out


def ellipse_vertices(lat, lon, a_m, b_m, orient_deg, n):
    """Vertices as package geo defines them: parametric angle t_k = 2*pi*k/n,
    major axis at orient_deg clockwise from north, minor axis 90 degrees
    counter-clockwise (seen from above) from it, then a geodesic from the
    centre with the tangent-plane distance and azimuth."""
    th = math.radians(orient_deg)
    me, mn = math.sin(th), math.cos(th)   # major axis unit vector (east, north)
    pe, pn = -mn, me                      # minor axis: major rotated 90 deg ccw
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        u, v = a_m * math.cos(t), b_m * math.sin(t)
        e, nn = u * me + v * pe, u * mn + v * pn
        d = math.hypot(e, nn)
        az = math.degrees(math.atan2(e, nn))
        lon2, lat2, _ = GEOD.fwd(lon, lat, az, d)
        pts.append([lon2, lat2])
    return pts


def polygon_cases():
    out = []
    for (lat, lon, a, b, th) in [
        (45.0, 7.0, 100e3, 100e3, 0.0),
        (45.0, 7.0, 100e3, 40e3, 30.0),
        (-33.9, 18.4, 100e3, 60e3, 135.0),
        (0.0, -60.0, 100e3, 20e3, 90.0),
        (70.0, 25.0, 100e3, 50e3, 10.0),
        (-75.0, 160.0, 100e3, 80e3, 170.0),
    ]:
        out.append({"lat_deg": lat, "lon_deg": lon, "semi_major_m": a, "semi_minor_m": b,
                    "orientation_deg": th, "vertices": 64,
                    "ring": ellipse_vertices(lat, lon, a, b, th, 64)})
    return out


def main():
    with open(os.path.join(HERE, "direct_golden.json"), "w") as fh:
        json.dump({"generator": "pyproj %s (PROJ %s) Geod(ellps='WGS84').fwd" %
                   (pyproj.__version__, pyproj.proj_version_str),
                   "cases": direct_cases()}, fh, indent=0)
        fh.write("\n")
    with open(os.path.join(HERE, "polygon_golden.json"), "w") as fh:
        json.dump({"generator": "pyproj %s (PROJ %s) Geod(ellps='WGS84').fwd" %
                   (pyproj.__version__, pyproj.proj_version_str),
                   "cases": polygon_cases()}, fh, indent=0)
        fh.write("\n")


if __name__ == "__main__":
    main()
