#!/usr/bin/python3
"""The scikit-image peer of bench/cells.sh (issue #6): the same classical steps as
`sund cells analyze`, written the way a scikit-image user would, timed in one process.

Run with Debian's interpreter (python3-skimage 0.19, scipy, numpy from apt):
  /usr/bin/python3 bench/cells_peer.py examplehuman DIR [RUNS]
      ExampleHuman (CellProfiler's example): nuclei on DNA (Li threshold on the smoothed image,
      intensity watershed declumping, size 8-80 px and border filters), PH3 (3-class Otsu,
      middle class foreground), cells by a watershed of the cell-body image seeded by the
      nuclei, cytoplasm, then regionprops of Nuclei, Cells, Cytoplasm on DNA and PH3.
      Prints the counts and the seconds of each run (reading the images included).
  /usr/bin/python3 bench/cells_peer.py dsb IMAGES LABELS SPLIT_CSV SET [MIN_DISTANCE]
      Each image of the split: Otsu on the smoothed image, holes filled, distance-transform
      watershed (maxima at least MIN_DISTANCE apart, default 7: the best of 3, 5, 7, 9 on the
      val split), regionprops; scored against the labels as `sund cells eval` does (one-to-one
      IoU matching, per-image AP = TP/(TP+FP+FN), averaged over the images). The time per image
      counts reading, segmentation and measurements (also given without the measurements), not
      the scoring.
  /usr/bin/python3 bench/cells_peer.py synth OUT.tif SIZE [SEED]
      A SIZE x SIZE 16-bit TIFF of bright discs (nuclei of 6-12 px radius on a 40 px grid,
      jittered) on noise, for the memory and large-image figures.
Figures are printed as `key: value` lines that bench/cells.sh reads.
"""
import csv
import os
import statistics
import sys
import time

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, io, measure, morphology, segmentation
from skimage.feature import peak_local_max

SHAPE_PROPS = ("label", "area", "bbox", "bbox_area", "centroid", "eccentricity",
               "equivalent_diameter", "euler_number", "extent", "feret_diameter_max",
               "major_axis_length", "minor_axis_length", "orientation", "perimeter",
               "solidity", "moments_hu")
INTENSITY_PROPS = ("mean_intensity", "max_intensity", "min_intensity", "weighted_centroid")


def read_gray(path):
    img = io.imread(path)
    if img.ndim == 3:
        img = img[..., 0]  # DSB2018's grayscale images stored as RGB: equal channels
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / scale


def declump_intensity(image, binary, min_diameter):
    """CellProfiler's intensity declumping: maxima of the smoothed image (suppressed within
    half the minimum diameter) seed a watershed of the inverted intensity."""
    smoothed = filters.gaussian(image, sigma=min_diameter / 3.5 / 2.35)
    labels, _ = ndi.label(binary)
    peaks = peak_local_max(smoothed, min_distance=max(1, int(min_diameter / 2)), labels=labels,
                           exclude_border=False)
    markers = np.zeros(binary.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-smoothed, markers, mask=binary)


def size_and_border_filter(labels, lo, hi):
    props = measure.regionprops(labels)
    keep = np.zeros(labels.max() + 1, bool)
    for p in props:
        keep[p.label] = lo <= p.equivalent_diameter <= hi
    labels = np.where(keep[labels], labels, 0)
    labels = segmentation.clear_border(labels)
    return segmentation.relabel_sequential(labels)[0]


def primary(image, threshold_of_smoothed, min_d, max_d):
    smoothed = filters.gaussian(image, sigma=1.0)  # CellProfiler's smoothing scale 1.3488
    binary = smoothed > threshold_of_smoothed(smoothed)
    binary = ndi.binary_fill_holes(binary)
    labels = declump_intensity(image, binary, min_d)
    return size_and_border_filter(labels, min_d, max_d)


def measure_objects(labels, images):
    """Shape once, intensity per image (as MeasureObjectSizeShape and MeasureObjectIntensity):
    returns the objects and the number of measurement columns."""
    t = measure.regionprops_table(labels, properties=SHAPE_PROPS)
    columns = len(t)
    for image in images:
        columns += len(measure.regionprops_table(labels, intensity_image=image,
                                                 properties=INTENSITY_PROPS))
    return len(t["label"]), columns


def examplehuman_once(folder):
    files = sorted(os.listdir(folder))
    path = {c: os.path.join(folder, next(f for f in files if f.endswith(f"d{c}.tif")))
            for c in "012"}
    dna, ph3, body = (read_gray(path[c]) for c in "012")
    nuclei = primary(dna, filters.threshold_li, 8, 80)
    mitotic = primary(ph3, lambda s: filters.threshold_multiotsu(s, classes=3)[0], 7, 80)
    # Cells: the nuclei grown over the cell-body stain (Li threshold x 0.8) along its edges,
    # an approximation of CellProfiler's propagation.
    foreground = (body > 0.8 * filters.threshold_li(body)) | (nuclei > 0)
    cells = segmentation.watershed(filters.sobel(filters.gaussian(body, 1.0)), nuclei,
                                   mask=foreground)
    cytoplasm = np.where(nuclei > 0, 0, cells)
    columns = 0
    for labels in (nuclei, cells, cytoplasm):
        _, n = measure_objects(labels, (dna, ph3))
        columns += n
    return int(nuclei.max()), int(mitotic.max()), int(cells.max()), columns


def run_examplehuman(folder, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        n, p, c, columns = examplehuman_once(folder)
        times.append(time.perf_counter() - t0)
    print(f"objects: Nuclei {n}, PH3 {p}, Cells {c} ({columns} measurement columns)")
    print("run seconds: " + " ".join(f"{t:.3f}" for t in times))
    print(f"best: {min(times):.3f}")
    print(f"median: {statistics.median(times):.3f}")


def segment_dsb(image, min_distance):
    smoothed = filters.gaussian(image, sigma=1.0)
    binary = smoothed > filters.threshold_otsu(smoothed)
    binary = ndi.binary_fill_holes(binary)
    binary = morphology.remove_small_objects(binary, 16)
    distance = ndi.distance_transform_edt(binary)
    labels, _ = ndi.label(binary)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=labels,
                           exclude_border=False)
    markers = np.zeros(binary.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=binary)


def score(truth, predicted):
    """TP at IoU 0.50, 0.55, ..., 0.95 with one-to-one matching (above 0.5 a match is unique;
    ties at exactly 0.5 are settled greedily), as sund's ScoreInstances."""
    truth = segmentation.relabel_sequential(truth)[0]
    predicted = segmentation.relabel_sequential(predicted)[0]
    nt, npred = int(truth.max()), int(predicted.max())
    tps = np.zeros(10, int)
    if nt and npred:
        inter = np.bincount(truth.ravel().astype(np.int64) * (npred + 1) + predicted.ravel(),
                            minlength=(nt + 1) * (npred + 1)).reshape(nt + 1, npred + 1)
        at, ap = inter.sum(1), inter.sum(0)
        inter = inter[1:, 1:]
        iou = inter / (at[1:, None] + ap[None, 1:] - inter)
        for k, t in enumerate(np.arange(0.5, 1.0, 0.05)):
            used_t, used_p, tp = set(), set(), 0
            for i, j in zip(*np.nonzero(iou >= t - 1e-12)):
                if i not in used_t and j not in used_p:
                    used_t.add(i)
                    used_p.add(j)
                    tp += 1
            tps[k] = tp
    return nt, npred, tps


def run_dsb(images, labels, split_csv, subset, min_distance):
    with open(split_csv) as f:
        ids = [r["id"] for r in csv.DictReader(f) if r["split"] == subset]
    seconds, segment_seconds, ap50, ap, f1, count_error, megapixels = [], [], [], [], [], [], 0.0
    for i in ids:
        t0 = time.perf_counter()
        image = read_gray(os.path.join(images, i + ".png"))
        predicted = segment_dsb(image, min_distance)
        segment_seconds.append(time.perf_counter() - t0)
        measure_objects(predicted, (image,))
        seconds.append(time.perf_counter() - t0)
        megapixels += image.size / 1e6
        nt, npred, tps = score(io.imread(os.path.join(labels, i + ".png")), predicted)
        aps = [1.0 if nt == npred == 0 else tp / (nt + npred - tp) for tp in tps]
        ap50.append(aps[0])
        ap.append(sum(aps) / 10)
        f1.append(1.0 if nt == npred == 0 else 2 * tps[0] / (nt + npred))
        count_error.append(abs(npred - nt) / nt if nt else float(npred > 0))
    total = sum(seconds)
    print(f"images: {len(ids)} ({megapixels:.2f} megapixels), min_distance {min_distance}")
    print(f"segmentation only: {sum(segment_seconds):.3f} s, "
          f"{len(ids) / sum(segment_seconds):.1f} images/s")
    print(f"seconds: {total:.3f}")
    print(f"images/s: {len(ids) / total:.1f}")
    print(f"ms/image: {1000 * total / len(ids):.1f} mean, "
          f"{1000 * statistics.median(seconds):.1f} median")
    print(f"AP@0.5: {statistics.mean(ap50):.3f}")
    print(f"AP@0.5:0.95: {statistics.mean(ap):.3f}")
    print(f"F1@0.5: {statistics.mean(f1):.3f}")
    print(f"count error: {100 * statistics.mean(count_error):.1f}% mean, "
          f"{100 * statistics.median(count_error):.1f}% median")


def run_synth(out, size, seed):
    import tifffile
    rng = np.random.default_rng(seed)
    image = rng.normal(3000, 400, (size, size)).astype(np.float32)
    step = 40
    cy, cx = np.mgrid[step // 2:size - step // 2 + 1:step, step // 2:size - step // 2 + 1:step]
    cy = cy.ravel() + rng.integers(-6, 7, cy.size)
    cx = cx.ravel() + rng.integers(-6, 7, cx.size)
    radii = rng.integers(6, 13, cy.size)
    brightness = rng.uniform(12000, 30000, cy.size).astype(np.float32)
    for radius in range(6, 13):
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        disc = (yy * yy + xx * xx <= radius * radius).astype(np.float32)
        pick = radii == radius
        for y, x, b in zip(cy[pick], cx[pick], brightness[pick]):
            image[y - radius:y + radius + 1, x - radius:x + radius + 1] += b * disc
    image = ndi.gaussian_filter(image, 1.0, output=image)
    tifffile.imwrite(out, np.clip(image, 0, 65535).astype(np.uint16))
    print(f"wrote {out}: {size} x {size}, 16-bit, {cy.size} discs")


def main(argv):
    if len(argv) >= 3 and argv[1] == "examplehuman":
        run_examplehuman(argv[2], int(argv[3]) if len(argv) > 3 else 1)
    elif len(argv) >= 6 and argv[1] == "dsb":
        run_dsb(argv[2], argv[3], argv[4], argv[5], int(argv[6]) if len(argv) > 6 else 7)
    elif len(argv) >= 4 and argv[1] == "synth":
        run_synth(argv[2], int(argv[3]), int(argv[4]) if len(argv) > 4 else 1)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
