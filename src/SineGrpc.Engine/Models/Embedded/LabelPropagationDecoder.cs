using Onnx;
using SineGrpc.Engine.Models.Onnx;

namespace SineGrpc.Engine.Models.Embedded;

/// <summary>Parameters of the training-free label-propagation decoder.</summary>
/// <param name="TopK">Memory cells each target cell takes its label from (fewer when it has fewer candidates).</param>
/// <param name="Temperature">Softmax temperature over the chosen cells' cosine similarities.</param>
/// <param name="Radius">Only memory cells within this many cells (Euclidean, on the feature grid) of the target cell are candidates.</param>
/// <param name="TileSize">
/// Side, in cells, of the target tiles the graph matches at once (0 = automatic, see
/// <see cref="Tile"/>). Each tile is compared with the memory cells of its own and its
/// neighbouring tiles only, so the cost grows with the frame's area instead of its square;
/// the result does not depend on it.
/// </param>
/// <param name="Sharpen">
/// The propagated labels are raised to this power and renormalised over every label (1 = as
/// propagated). Objects that joined on different frames are then sharpened among all
/// objects, not among their own group's alone as a run per group would.
/// </param>
public sealed record LabelPropagationOptions(int TopK = 10, float Temperature = 0.2f, int Radius = 16, int TileSize = 0, float Sharpen = 1f)
{
    public static LabelPropagationOptions Default { get; } = new();

    /// <summary>
    /// The tile side actually used. Automatic: half the radius (two rings of neighbour tiles)
    /// from a radius of 16 cells, where it wastes fewer candidates beyond the radius, else the
    /// radius (one ring), whose fewer, larger matrix products win on smaller radii
    /// (docs/quality.md, "Tile size").
    /// </summary>
    public int Tile => TileSize > 0 ? TileSize : Radius >= 16 ? (Radius + 1) / 2 : Math.Max(1, Radius);

    public void Validate()
    {
        if (TopK < 1 || !(Temperature > 0) || Radius < 0 || TileSize < 0 || !(Sharpen > 0))
            throw new ArgumentOutOfRangeException(nameof(LabelPropagationOptions), this,
                "label propagation needs top-k >= 1, temperature > 0, radius >= 0, tile size >= 0 and sharpen > 0");
    }

    public override string ToString() =>
        FormattableString.Invariant($"top-{TopK}, temperature {Temperature}, radius {Radius} cells, tiles of {Tile}") +
        (Sharpen != 1f ? FormattableString.Invariant($", labels sharpened by power {Sharpen}") : "");
}

/// <summary>
/// The embedded model's decoder as an ONNX graph: dense label propagation (space-time
/// correspondence as in CRW and the DINO video evaluation). Each target cell compares
/// its L2-normalised feature with every memory cell within the radius, keeps the top k,
/// and takes the softmax-weighted mean of their labels.
/// </summary>
/// <remarks>
/// Inputs <c>features</c> [1,C,h,w], <c>memory_features</c> [M,C,h,w],
/// <c>memory_labels</c> [M,L,h,w]; output <c>labels</c> [1,L,h,w]. C, M, L, h and w are
/// all dynamic.
///
/// The grouped variant (<see cref="ComponentFiles.GroupedDecoder"/>) also takes
/// <c>memory_visible</c> [G,M], G >= 1, and outputs [1+G,L,h,w]: first the propagation over
/// the whole memory, then one per row of <c>memory_visible</c> (1 or 0 per memory frame), a
/// further group of objects that reads only the frames it marks (objects that joined
/// mid-stream read only the frames stored since), equal to a run on only those frames. The
/// target is matched against the memory once and each group takes its own top k, so a group
/// costs a top-k pass rather than a run. (No tensor in it is ever empty: G >= 1.)
///
/// Local matching without a correlation operator: the grids are cut into t x t tiles
/// (t = <see cref="LabelPropagationOptions.Tile"/>, padded at the bottom and right); a
/// target tile is matched, with one batched MatMul per neighbour offset, against the
/// memory tiles up to n = ceil(radius / t) tiles away, which hold every cell within the
/// radius. Per offset it is the target grid that is shifted (a slice of it, ringed with
/// empty tiles), not the M times larger memory, and only each cell's k best candidates are
/// shifted back. A constant table then removes the candidates beyond the radius (their
/// relative positions are the same for every tile), and a validity map the padding.
/// Cost: h*w*(2n+1)²*M*t²*C multiply-adds, linear in the frame's area, plus a top-k pass over
/// the h*w*(2n+1)²*M*t² affinities per group.
/// </remarks>
public static class LabelPropagationDecoder
{
    /// <summary>Added to the affinity of cells outside the radius or in the padding: large enough to lose every softmax, finite so that nothing turns into NaN.</summary>
    private const float OutsidePenalty = -1e4f;

    /// <summary>Keeps all-zero features (for example padding) from dividing by zero in the normalisation.</summary>
    private const float NormEpsilon = 1e-6f;

    /// <param name="grouped">Build the grouped variant, with <c>memory_visible</c> (see the remarks).</param>
    public static ModelProto Build(LabelPropagationOptions options, bool grouped = false)
    {
        options.Validate();
        int t = options.Tile, r = options.Radius;
        int n = (r + t - 1) / t;                 // neighbour tiles on each side
        int span = 2 * n + 1, directions = span * span;
        long cellsPerTile = (long)t * t;

        var g = new OnnxGraphBuilder("label_propagation");
        var features = g.Input("features", 1, "channels", "height", "width");
        var memoryFeatures = g.Input("memory_features", "memory", "channels", "height", "width");
        var memoryLabels = g.Input("memory_labels", "memory", "labels", "height", "width");
        var visible = grouped ? g.Input(DenseDecoderInputs.MemoryVisible, "groups", "memory") : null;

        string Dim(string tensor, long axis) => g.Node("Gather", [g.Node("Shape", [tensor]), g.Int64s(axis)], Attr.Int("axis", 0)); // [1]
        string Cat(params string[] parts) => g.Node("Concat", parts, Attr.Int("axis", 0));
        string Mul(string a, string b) => g.Node("Mul", [a, b]);
        string Add(string a, string b) => g.Node("Add", [a, b]);
        string Reshape(string x, string shape) => g.Node("Reshape", [x, shape]);

        var channels = Dim(features, 1);
        var h = Dim(features, 2);
        var w = Dim(features, 3);
        var memoryCount = Dim(memoryFeatures, 0);
        var labelCount = Dim(memoryLabels, 1);
        var laterGroups = visible is null ? null : Dim(visible, 0);
        var groups = laterGroups is null ? g.Int64s(1) : Add(laterGroups, g.Int64s(1));         // every frame, then each row
        var tile = g.Int64s(t);

        // Pad to whole tiles: pad = (t - size mod t) mod t; tile grid Th x Tw, T = Th * Tw.
        var padH = g.Node("Mod", [g.Node("Sub", [tile, g.Node("Mod", [h, tile])]), tile]);
        var padW = g.Node("Mod", [g.Node("Sub", [tile, g.Node("Mod", [w, tile])]), tile]);
        var tilesH = g.Node("Div", [Add(h, padH), tile]);
        var tilesW = g.Node("Div", [Add(w, padW), tile]);
        var tiles = Mul(tilesH, tilesW);
        var zero2 = g.Int64s(0, 0);
        var gridPads = Cat(zero2, g.Int64s(0, 0), zero2, padH, padW);
        // A ring of n empty tiles all round a tile grid [Th, Tw, ., .], so that every neighbour
        // tile exists. (Padded after tiling, so that the big transposes move no padding.)
        var ringPads = g.Int64s(n, n, 0, 0, n, n, 0, 0);
        var groupRingPads = g.Int64s(0, n, n, 0, 0, 0, n, n, 0, 0);   // the same, behind a group axis

        // Target tiles [Th+2n, Tw+2n, t², C], with a ring of n empty tiles all round, so that
        // the target grid can be shifted by up to n tiles each way (below).
        var target = g.Node("Pad", [Normalise(g, features), gridPads]);
        target = Reshape(target, Cat(channels, tilesH, tile, tilesW, tile));                  // [C, Th, t, Tw, t]
        target = g.Node("Transpose", [target], Attr.Ints("perm", 1, 3, 2, 4, 0));               // [Th, Tw, t, t, C]
        target = g.Node("Pad", [Reshape(target, Cat(tilesH, tilesW, g.Int64s(cellsPerTile), channels)), ringPads]);

        // Memory tiles [T, C, M*t²], candidates ordered (memory frame, row, column). Tiled once
        // and never copied again: each neighbour offset shifts the (M times smaller) target instead.
        var memory = g.Node("Pad", [Normalise(g, memoryFeatures), gridPads]);
        memory = Reshape(memory, Cat(memoryCount, channels, tilesH, tile, tilesW, tile));     // [M, C, Th, t, Tw, t]
        memory = g.Node("Transpose", [memory], Attr.Ints("perm", 2, 4, 1, 0, 3, 5));          // [Th, Tw, C, M, t, t]
        var perTile = Mul(memoryCount, g.Int64s(cellsPerTile));                                // M*t²
        memory = Reshape(memory, Cat(tiles, channels, perTile));

        // Labels tiled the same way, candidates first, with the ring: [Th+2n, Tw+2n, M*t², L].
        var labels = g.Node("Pad", [memoryLabels, gridPads]);
        labels = Reshape(labels, Cat(memoryCount, labelCount, tilesH, tile, tilesW, tile));   // [M, L, Th, t, Tw, t]
        labels = g.Node("Transpose", [labels], Attr.Ints("perm", 2, 4, 0, 3, 5, 1));          // [Th, Tw, M, t, t, L]
        labels = g.Node("Pad", [Reshape(labels, Cat(tilesH, tilesW, perTile, labelCount)), ringPads]);

        // The memory cells that are padding, pushed below every real candidate: [T, 1, 1, t²].
        var ones = g.Node("ConstantOfShape", [Cat(g.Int64s(1, 1), h, w)],
            new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = FloatScalar(1f) });
        var valid = g.Node("Pad", [ones, gridPads]);
        valid = Reshape(valid, Cat(tilesH, tile, tilesW, tile));
        valid = g.Node("Transpose", [valid], Attr.Ints("perm", 0, 2, 1, 3));
        var padding = Mul(g.Node("Sub", [Reshape(valid, Cat(tiles, g.Int64s(1, 1, cellsPerTile))), g.Float(1f)]), g.Float(-OutsidePenalty));
        // The memory frames a further group does not read, pushed below every real candidate
        // the same way: [G, 1, 1, M, 1], against affinities [G, T, t², M, t²].
        var hidden = laterGroups is null ? null
            : Reshape(Mul(g.Node("Sub", [visible!, g.Float(1f)]), g.Float(-OutsidePenalty)), Cat(laterGroups, g.Int64s(1, 1), memoryCount, g.Int64s(1)));

        // Per neighbour offset o: every memory tile p against the target tile p - o gives
        // affinities [T, t², M*t²], pushed below every real candidate where beyond the radius
        // or in the padding (and, per group, in the frames it does not read), and their own top
        // k per group; shifted back by o, each target tile then has the top k of its neighbour
        // at +o. The overall top k is among these D*k. (Doing it per neighbour never
        // materialises all D*M*t² candidates at once.)
        var radiusTable = RadiusTable(g, t, n, r);                                                // [D, 1, t², 1, t²]
        var candidatesPerDirection = Mul(memoryCount, g.Int64s(cellsPerTile));
        var kEach = g.Node("Min", [candidatesPerDirection, g.Int64s(options.TopK)]);
        var tileAxes = g.Int64s(0, 1);
        var groupTileAxes = g.Int64s(1, 2);
        var outside = g.Float(2 * OutsidePenalty);
        var scores = new string[directions];
        var positions = new string[directions];
        var candidateLabels = new string[directions];
        for (int dy = 0; dy < span; dy++)
        {
            for (int dx = 0; dx < span; dx++)
            {
                // Ring-padded grids sliced at (dy, dx) line target tile a up with tile a + o,
                // o = (dy - n, dx - n); sliced at (2n - dy, 2n - dx), memory tile p with p - o.
                string Slice(string x, long y, long xOffset, string axes) =>
                    g.Node("Slice", [x, g.Int64s(y, xOffset), Cat(Add(tilesH, g.Int64s(y)), Add(tilesW, g.Int64s(xOffset))), axes]);
                string Shifted(string x) => Slice(x, 2 * n - dy, 2 * n - dx, tileAxes);
                string Neighbours(string x) => Slice(x, dy, dx, tileAxes);
                string GroupNeighbours(string x) => Slice(x, dy, dx, groupTileAxes);

                var i = dy * span + dx;
                var shiftedTarget = Reshape(Shifted(target), Cat(tiles, g.Int64s(cellsPerTile), channels)); // [T, t², C]
                var affinity = g.Node("MatMul", [shiftedTarget, memory]);                           // [T, t², M*t²]
                var penalty = Add(g.Node("Gather", [radiusTable, g.Int64(i)], Attr.Int("axis", 0)), padding); // [T, t², 1, t²]
                affinity = Add(Reshape(affinity, Cat(tiles, g.Int64s(cellsPerTile), memoryCount, g.Int64s(cellsPerTile))), penalty);
                // Every frame's top k as they are (no copy), then (grouped) each further group's
                // among its own frames: [1+G, T, t², k].
                var everyFrame = Reshape(affinity, Cat(g.Int64s(1), tiles, g.Int64s(cellsPerTile), candidatesPerDirection));
                var best = g.Node("TopK", [everyFrame, kEach], 2, Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", 0));
                if (hidden is not null)
                {
                    var ownFrames = Reshape(Add(g.Node("Unsqueeze", [affinity, g.Int64s(0)]), hidden),
                        Cat(laterGroups!, tiles, g.Int64s(cellsPerTile), candidatesPerDirection));
                    var bestOfOwn = g.Node("TopK", [ownFrames, kEach], 2, Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", 0));
                    best =
                    [
                        g.Node("Concat", [best[0], bestOfOwn[0]], Attr.Int("axis", 0)),
                        g.Node("Concat", [best[1], bestOfOwn[1]], Attr.Int("axis", 0)),
                    ];
                }

                // Back to target tiles. A target tile whose neighbour at +o lies outside the grid
                // gets candidates that lose every comparison (and point at the ring's empty labels).
                string ShiftBack(string x, params string[] fill) =>
                    Reshape(GroupNeighbours(g.Node("Pad", [Reshape(x, Cat(groups, tilesH, tilesW, g.Int64s(cellsPerTile), kEach)), groupRingPads, .. fill])),
                        Cat(groups, tiles, g.Int64s(cellsPerTile), kEach));
                scores[i] = ShiftBack(best[0], outside);
                positions[i] = Add(ShiftBack(best[1]), Mul(candidatesPerDirection, g.Int64s(i))); // index among all D*M*t²
                candidateLabels[i] = Reshape(Neighbours(labels), Cat(tiles, perTile, labelCount));   // [T, M*t², L]
            }
        }

        var shortlist = g.Node("Concat", scores, Attr.Int("axis", 3));                            // [G, T, t², D*k]
        var shortlistPositions = g.Node("Concat", positions, Attr.Int("axis", 3));
        // k = min(TopK, candidates), so that a tiny memory still works.
        var k = g.Node("Min", [Dim(shortlist, 3), g.Int64s(options.TopK)]);
        var top = g.Node("TopK", [shortlist, k], 2, Attr.Int("axis", -1), Attr.Int("largest", 1), Attr.Int("sorted", 1));
        var weights = g.Node("Softmax", [g.Node("Div", [top[0], g.Float(options.Temperature)])], Attr.Int("axis", -1)); // [G, T, t², k]
        var chosenPositions = g.Node("GatherElements", [shortlistPositions, top[1]], Attr.Int("axis", 3));

        // The labels are gathered tile by tile, every group's choices at once: [T, G*t²*k, L].
        var allLabels = g.Node("Concat", candidateLabels, Attr.Int("axis", 1));                  // [T, D*M*t², L]
        var groupsInTiles = Attr.Ints("perm", 1, 0, 2, 3);                                        // [G, T, ...] <-> [T, G, ...]
        var indices = Reshape(g.Node("Transpose", [chosenPositions], groupsInTiles), Cat(tiles, g.Int64s(-1, 1)));
        var chosen = g.Node("GatherND", [allLabels, indices], Attr.Int("batch_dims", 1));
        chosen = Reshape(chosen, Cat(tiles, groups, g.Int64s(cellsPerTile), k, labelCount));    // [T, G, t², k, L]
        var tileWeights = g.Node("Transpose", [weights], groupsInTiles);                          // [T, G, t², k]
        var weighted = Mul(chosen, g.Node("Unsqueeze", [tileWeights, g.Int64s(4)]));
        var propagated = g.Node("ReduceSum", [weighted, g.Int64s(3)], Attr.Int("keepdims", 0)); // [T, G, t², L]

        if (options.Sharpen != 1f)
        {
            var powered = g.Node("Pow", [propagated, g.Float(options.Sharpen)]);
            var total = g.Node("ReduceSum", [powered, g.Int64s(3)], Attr.Int("keepdims", 1));
            propagated = g.Node("Div", [powered, g.Node("Max", [total, g.Float(1e-12f)])]);
        }

        // Back to the grid: [Th, Tw, G, t, t, L] -> [G, L, Th, t, Tw, t] -> [G, L, Hp, Wp] -> crop.
        var grid = Reshape(propagated, Cat(tilesH, tilesW, groups, tile, tile, labelCount));
        grid = g.Node("Transpose", [grid], Attr.Ints("perm", 2, 5, 0, 3, 1, 4));
        grid = Reshape(grid, Cat(groups, labelCount, Add(h, padH), Add(w, padW)));
        var output = g.Node("Slice", [grid, g.Int64s(0, 0), Cat(h, w), g.Int64s(2, 3)]);
        if (grouped)
            g.Output(output, "labels", "groups", "labels", "height", "width");
        else
            g.Output(output, "labels", 1, "labels", "height", "width");
        return g.Build($"Dense label propagation: {options}");
    }

    /// <summary>x / max(||x||, eps) over the channel axis of an [N,C,h,w] tensor.</summary>
    private static string Normalise(OnnxGraphBuilder g, string x)
    {
        // ReduceSum of the squares rather than ReduceL2: ONNX Runtime's CPU ReduceSum has a
        // fast path for a middle axis that ReduceL2 lacks, and this runs over the whole memory
        // every frame.
        var norm = g.Node("Sqrt", [g.Node("ReduceSum", [g.Node("Mul", [x, x]), g.Int64s(1)], Attr.Int("keepdims", 1))]);
        return g.Node("Div", [x, g.Node("Max", [norm, g.Float(NormEpsilon)])]);
    }

    /// <summary>
    /// [D, 1, t², 1, t²]: 0 where the memory cell (of neighbour tile d) is within the radius of
    /// the target cell, <see cref="OutsidePenalty"/> elsewhere. The same for every tile.
    /// </summary>
    private static string RadiusTable(OnnxGraphBuilder g, int t, int n, int radius)
    {
        int span = 2 * n + 1, cells = t * t;
        var table = new float[cells * span * span * cells];
        var i = 0;
        for (int dy = 0; dy < span; dy++)
            for (int dx = 0; dx < span; dx++)
                for (int ty = 0; ty < t; ty++)
                    for (int tx = 0; tx < t; tx++)
                        for (int my = 0; my < t; my++)
                            for (int mx = 0; mx < t; mx++)
                            {
                                long y = (long)(dy - n) * t + my - ty, x = (long)(dx - n) * t + mx - tx;
                                table[i++] = y * y + x * x > (long)radius * radius ? OutsidePenalty : 0f;
                            }
        return g.FloatTensor(table, [span * span, 1, cells, 1, cells]);
    }

    private static TensorProto FloatScalar(float value)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(1);
        tensor.FloatData.Add(value);
        return tensor;
    }
}
