using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Embedded;

namespace SineGrpc.Engine.Tests.Embedded;

/// <summary>Builds the embedded bundle once for all tests of the class.</summary>
public sealed class EmbeddedBundleFixture : IDisposable
{
    public string CacheRoot { get; } = Path.Combine(Path.GetTempPath(), "sinegrpc-embedded-" + Guid.NewGuid().ToString("N"));
    public string Folder { get; }

    /// <summary>The layer3, stride-16 configuration these tests check by hand (the shipped default is layer2+layer3 at stride 8).</summary>
    public static EmbeddedModelOptions Layer3Options { get; } = new() { Layer = EmbeddedModelOptions.Layer3, Stride = 16 };

    public EmbeddedBundleFixture() => Folder = EmbeddedModel.EnsureBuilt(CacheRoot, NullLogger.Instance, Layer3Options);

    public void Dispose() => Directory.Delete(CacheRoot, recursive: true);
}

public sealed class EmbeddedModelTests(EmbeddedBundleFixture bundle) : IClassFixture<EmbeddedBundleFixture>, IDisposable
{
    private readonly List<string> _scratch = [];

    public void Dispose()
    {
        foreach (var folder in _scratch)
            Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Manifest_DescribesTheDefaultDenseBgrModel()
    {
        var folder = DefaultBundle();
        var manifest = ModelManifest.Read(Path.Combine(folder, "model.json"));
        var defaults = new EmbeddedModelOptions();

        Assert.Equal(EmbeddedModel.Name, manifest.Name);
        Assert.Equal(MemoryKinds.Dense, manifest.MemoryKind);
        Assert.Equal("bgr", manifest.ChannelOrder);
        Assert.Equal(1f, manifest.PixelScale);
        Assert.Equal(103.06f, manifest.Mean[0], 0.01f);
        Assert.Equal(115.90f, manifest.Mean[1], 0.01f);
        Assert.Equal(123.15f, manifest.Mean[2], 0.01f);
        Assert.Equal(new[] { 1f, 1f, 1f }, manifest.Std);
        // The measured defaults (docs/quality.md): layer2 + layer3 at stride 8.
        Assert.Equal((EmbeddedModelOptions.Layer2And3, 8), (defaults.Layer, defaults.Stride));
        Assert.Equal((384, 8, 8), (manifest.FeatureChannels, manifest.FeatureStride, manifest.MaskStride));
        Assert.Equal((defaults.InputSize, 0), (manifest.InputSize, manifest.PadSize));
        Assert.Equal((defaults.MemoryCapacity, defaults.FixFirstFrame, defaults.DecayRatio),
            (manifest.Memory.Capacity, manifest.Memory.FixFirstFrame, manifest.Memory.DecayRatio));
        Assert.Contains($"top-{defaults.TopK},", manifest.Description);
        Assert.True(File.Exists(Path.Combine(folder, manifest.Files.Encoder)));
        Assert.True(File.Exists(Path.Combine(folder, manifest.Files.Decoder)));
        // And the decoder that answers objects that joined on different frames in one run.
        Assert.Equal("decoder_groups.onnx", manifest.Files.GroupedDecoder);
        Assert.True(File.Exists(Path.Combine(folder, manifest.Files.GroupedDecoder!)));
    }

    [Theory]
    [InlineData(1, 64, 96)]
    [InlineData(1, 160, 128)]
    [InlineData(2, 64, 64)]
    [InlineData(1, 56, 40)] // a 7 x 5 grid: odd sides
    public void Encoder_ByDefault_RunsAtAnySize_GivingFeaturesAtStride8(int batch, int height, int width)
    {
        using var session = new InferenceSession(Path.Combine(DefaultBundle(), "encoder.onnx"));
        var random = new Random(7);
        var image = Enumerable.Range(0, batch * 3 * height * width).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();

        var features = Ort.Run(session, ("image", image, [batch, 3, height, width]))["features"];

        Assert.Equal(new long[] { batch, 384, height / 8, width / 8 }, features.Shape);
        Assert.All(features.Data, v => Assert.True(v >= 0 && float.IsFinite(v))); // normalised ReLU outputs
        Assert.Contains(features.Data, v => v > 0);
    }

    [Theory]
    [InlineData(1, 64, 96)]
    [InlineData(2, 64, 64)]
    public void Encoder_Layer3_RunsAtAnySize_GivingFeaturesAtStride16(int batch, int height, int width)
    {
        using var session = new InferenceSession(Path.Combine(bundle.Folder, "encoder.onnx"));
        var random = new Random(7);
        var image = Enumerable.Range(0, batch * 3 * height * width).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();

        var features = Ort.Run(session, ("image", image, [batch, 3, height, width]))["features"];

        Assert.Equal(new long[] { batch, 256, height / 16, width / 16 }, features.Shape);
        Assert.All(features.Data, v => Assert.True(v >= 0 && float.IsFinite(v))); // layer3 ends in a ReLU
        Assert.Contains(features.Data, v => v > 0);
    }

    [Fact]
    public void Decoder_MemoryFrameEqualToTheTarget_GivesBackItsLabels()
    {
        const int channels = 64, height = 5, width = 7, labelCount = 3; // 64 random dims: other cells stay far below cosine 1
        var random = new Random(3);
        var target = Gaussian(random, channels * height * width);
        var labels = SoftLabels(random, labelCount, height * width);
        // A second memory frame of unrelated features must not disturb the match.
        var memoryFeatures = target.Concat(Gaussian(random, channels * height * width)).ToArray();
        var memoryLabels = labels.Concat(SoftLabels(random, labelCount, height * width)).ToArray();

        // A cold softmax, so that the exact match takes (nearly) all the weight.
        var decoder = Path.Combine(NewScratchFolder(), "decoder.onnx");
        LabelPropagationDecoder.Build(new LabelPropagationOptions(TopK: 10, Temperature: 0.01f, Radius: 12)).WriteToFile(decoder);
        var result = RunDecoder(decoder, target, [1, channels, height, width], memoryFeatures, memoryLabels, memoryCount: 2, labelCount);

        Assert.Equal(new long[] { 1, labelCount, height, width }, result.Shape);
        for (int i = 0; i < labels.Length; i++)
            Assert.Equal(labels[i], result.Data[i], 1e-3f);
    }

    [Theory]
    [InlineData(19, 0f)] // 19 cells away: outside the radius of 12 (of this decoder), so the match is not seen
    [InlineData(5, 1f)]  // 5 cells away: inside, so it carries its label over
    public void Decoder_OnlySeesMemoryCellsWithinTheRadius(int matchColumn, float expectedObject)
    {
        // One row of 20 cells. Target cell 0 has feature a; in the memory frame only the
        // cell at matchColumn has a (and is the object), every other cell is orthogonal
        // to a and background.
        const int channels = 4, width = 20;
        var target = new float[channels * width];
        var memory = new float[channels * width];
        var labels = new float[2 * width];
        for (int x = 0; x < width; x++)
        {
            target[(x == 0 ? 0 : 1) * width + x] = 1f;
            memory[(x == matchColumn ? 0 : 2) * width + x] = 1f;
            labels[(x == matchColumn ? 1 : 0) * width + x] = 1f;
        }

        var decoder = Path.Combine(NewScratchFolder(), "decoder.onnx");
        LabelPropagationDecoder.Build(new LabelPropagationOptions(TopK: 10, Temperature: 0.01f, Radius: 12)).WriteToFile(decoder);
        var result = RunDecoder(decoder, target, [1, channels, 1, width], memory, labels, memoryCount: 1, labelCount: 2);

        Assert.Equal(expectedObject, result.Data[1 * width + 0], 1e-4f);
        Assert.Equal(1f - expectedObject, result.Data[0 * width + 0], 1e-4f);
    }

    [Theory]
    [InlineData(10)] // k is clamped in-graph to the 4 cells the memory has
    [InlineData(2)]
    public void Decoder_MatchesAWorkedExample(int topK)
    {
        // h = w = 2, C = 2, one memory frame. Memory cells point at 0, 60, 90 and 180
        // degrees with lengths 3, 2, 5, 1 (lengths must not matter): cosines with a
        // target at 0 degrees are 1, 0.5, 0, -1. Cells 0 and 2 are the object.
        const float temperature = 0.5f;
        var folder = NewScratchFolder();
        var decoderPath = Path.Combine(folder, "decoder.onnx");
        LabelPropagationDecoder.Build(new LabelPropagationOptions(topK, temperature, Radius: 12)).WriteToFile(decoderPath);

        float s = MathF.Sqrt(3) / 2;
        float[] memoryFeatures = [3, 2 * 0.5f, 0, -1, /* channel 1: */ 0, 2 * s, 5, 0];
        float[] memoryLabels = [0, 1, 0, 1, /* object: */ 1, 0, 1, 0];
        // Target cell 0 at 0 degrees (length 2); cell 3 at 90 degrees; cells 1 and 2 at 0 degrees.
        float[] target = [2, 1, 1, 0, /* channel 1: */ 0, 0, 0, 1];

        var result = RunDecoder(decoderPath, target, [1, 2, 2, 2], memoryFeatures, memoryLabels, memoryCount: 1, labelCount: 2);

        // Target cell 0: scores cos / T = 2, 1, 0, -2 for memory cells 0..3.
        float e2 = MathF.Exp(2), e1 = MathF.Exp(1), e0 = 1, em2 = MathF.Exp(-2);
        float expected0 = topK >= 4 ? (e2 + e0) / (e2 + e1 + e0 + em2) : e2 / (e2 + e1);
        // Target cell 3 (90 degrees): cosines 0, 0.866, 1, 0 -> scores 0, 1.732, 2, 0; top-2 = cells 2 and 1.
        float e173 = MathF.Exp(2 * s);
        float expected3 = topK >= 4 ? (e0 + e2) / (e0 + e173 + e2 + e0) : e2 / (e2 + e173);

        Assert.Equal(expected0, result.Data[4 + 0], 1e-5f);
        Assert.Equal(1 - expected0, result.Data[0], 1e-5f);
        Assert.Equal(expected3, result.Data[4 + 3], 1e-5f);
        Assert.Equal(1 - expected3, result.Data[3], 1e-5f);
    }

    [Theory]
    [InlineData(7, 11, 3, 0, 4, 1)]   // tiles of 3 (the radius), frame not a multiple of them
    [InlineData(7, 11, 3, 2, 4, 2)]   // tiles smaller than the radius: two rings of neighbours
    [InlineData(9, 5, 5, 4, 10, 3)]   // radius beyond the frame
    [InlineData(6, 6, 0, 0, 1, 2)]    // radius 0: only the same cell of each memory frame
    [InlineData(12, 16, 4, 4, 200, 1)] // k above the candidate count
    [InlineData(20, 37, 16, 0, 10, 2)] // the shipped radius: automatic tiles of 8, two rings, the frame no multiple of them
    public void Decoder_EqualsANaiveLabelPropagation(int height, int width, int radius, int tileSize, int topK, int memoryCount)
    {
        const int channels = 8, labelCount = 3;
        const float temperature = 0.2f;
        var folder = NewScratchFolder();
        var decoderPath = Path.Combine(folder, "decoder.onnx");
        var options = new LabelPropagationOptions(topK, temperature, radius, tileSize);
        LabelPropagationDecoder.Build(options).WriteToFile(decoderPath);
        var random = new Random(height * 1000 + width * 10 + radius);
        var target = Gaussian(random, channels * height * width);
        var memoryFeatures = Gaussian(random, memoryCount * channels * height * width);
        var memoryLabels = Enumerable.Range(0, memoryCount)
            .SelectMany(_ => SoftLabels(random, labelCount, height * width)).ToArray();

        var result = RunDecoder(decoderPath, target, [1, channels, height, width], memoryFeatures, memoryLabels, memoryCount, labelCount);

        var expected = NaiveLabelPropagation(target, memoryFeatures, memoryLabels, memoryCount, channels, labelCount, height, width, options);
        Assert.Equal(new long[] { 1, labelCount, height, width }, result.Shape);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], result.Data[i], 1e-4f);
    }

    // Objects that joined on different frames read different memory frames: one run answers
    // every frame's propagation, then every further group as a run on only its frames would
    // (and as the naive loops do).
    [Theory]
    [InlineData(7, 11, 3, 0, 4)]
    [InlineData(20, 37, 16, 0, 10)]   // the shipped radius and tiles
    public void Decoder_AnswersEachGroupFromOnlyTheFramesItReads(int height, int width, int radius, int tileSize, int topK)
    {
        const int channels = 8, labelCount = 3, memoryCount = 4;
        var folder = NewScratchFolder();
        var decoderPath = Path.Combine(folder, "decoder.onnx");
        var options = new LabelPropagationOptions(topK, 0.2f, radius, tileSize);
        LabelPropagationDecoder.Build(options, grouped: true).WriteToFile(decoderPath);
        var random = new Random(height + width + radius);
        var target = Gaussian(random, channels * height * width);
        var memoryFeatures = Gaussian(random, memoryCount * channels * height * width);
        var memoryLabels = Enumerable.Range(0, memoryCount).SelectMany(_ => SoftLabels(random, labelCount, height * width)).ToArray();
        float[][] groups = [[0, 1, 0, 1], [0, 0, 0, 1], [1, 0, 1, 0]];

        var result = RunDecoder(decoderPath, target, [1, channels, height, width], memoryFeatures, memoryLabels, memoryCount, labelCount,
            [.. groups.SelectMany(row => row)]);

        Assert.Equal(new long[] { 1 + groups.Length, labelCount, height, width }, result.Shape);
        var size = labelCount * height * width;
        float[][] rows = [[1, 1, 1, 1], .. groups];
        for (int output = 0; output < rows.Length; output++)
        {
            var row = rows[output];
            var expected = NaiveLabelPropagation(target, memoryFeatures, memoryLabels, memoryCount, channels, labelCount, height, width, options,
                frame => row[frame] == 1f);
            for (int i = 0; i < size; i++)
                Assert.Equal(expected[i], result.Data[output * size + i], 1e-4f);
        }
    }

    // Grouped, every output row (the whole memory's, then each group's) is sharpened over all
    // of its labels, as LabelPropagationOptions.Sharpen documents.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decoder_SharpensLabelsByAPower(bool grouped)
    {
        const int labelCount = 3, memoryCount = 2, cells = 9;
        var folder = NewScratchFolder();
        var plain = Path.Combine(folder, "plain.onnx");
        var sharp = Path.Combine(folder, "sharp.onnx");
        LabelPropagationDecoder.Build(new LabelPropagationOptions(TopK: 3, Temperature: 1f, Radius: 2), grouped).WriteToFile(plain);
        LabelPropagationDecoder.Build(new LabelPropagationOptions(TopK: 3, Temperature: 1f, Radius: 2, Sharpen: 2f), grouped).WriteToFile(sharp);
        var random = new Random(5);
        var target = Gaussian(random, 4 * cells);
        var memory = Gaussian(random, memoryCount * 4 * cells);
        var labels = Enumerable.Range(0, memoryCount).SelectMany(_ => SoftLabels(random, labelCount, cells)).ToArray();
        float[]? visible = grouped ? [0, 1] : null;   // one further group, reading the second frame only

        var p = RunDecoder(plain, target, [1, 4, 3, 3], memory, labels, memoryCount, labelCount, visible);
        var q = RunDecoder(sharp, target, [1, 4, 3, 3], memory, labels, memoryCount, labelCount, visible);

        Assert.Equal(p.Shape, q.Shape);
        Assert.Equal(grouped ? 2 : 1, q.Shape[0]);
        for (int row = 0; row < q.Shape[0]; row++)
            for (int cell = 0; cell < cells; cell++)
            {
                int At(int label) => (row * labelCount + label) * cells + cell;
                var total = Enumerable.Range(0, labelCount).Sum(label => p.Data[At(label)] * p.Data[At(label)]);
                for (int label = 0; label < labelCount; label++)
                    Assert.Equal(p.Data[At(label)] * p.Data[At(label)] / total, q.Data[At(label)], 1e-5f);
            }
        // The rows differ, so the grouped case tests two different sharpenings.
        if (grouped)
            Assert.NotEqual(p.Data[..(labelCount * cells)], p.Data[(labelCount * cells)..]);
    }

    [Theory]
    [InlineData(8, false, 64, 96)]
    [InlineData(8, true, 64, 96)]
    public void Encoder_Layer3AtStride8_GivesFourTimesTheCells(int stride, bool dilate, int height, int width)
    {
        var folder = NewScratchFolder();
        var options = new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer3, Stride = stride, Dilate = dilate };
        EmbeddedModel.Build(folder, options, EmbeddedModel.DefaultSourcePath);
        var manifest = ModelManifest.Read(Path.Combine(folder, "model.json"));
        Assert.Equal((256, 8, 8), (manifest.FeatureChannels, manifest.FeatureStride, manifest.MaskStride));

        using var session = new InferenceSession(Path.Combine(folder, "encoder.onnx"));
        var random = new Random(11);
        var image = Enumerable.Range(0, 3 * height * width).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();
        var features = Ort.Run(session, ("image", image, [1, 3, height, width]))["features"];

        Assert.Equal(new long[] { 1, 256, height / 8, width / 8 }, features.Shape);
        Assert.Contains(features.Data, v => v > 0);
    }

    [Fact]
    public void Encoder_Layer2_Gives128ChannelsAtStride8()
    {
        var folder = NewScratchFolder();
        EmbeddedModel.Build(folder, new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer2, Stride = 8 }, EmbeddedModel.DefaultSourcePath);

        using var session = new InferenceSession(Path.Combine(folder, "encoder.onnx"));
        var features = Ort.Run(session, ("image", new float[3 * 32 * 48], [1, 3, 32, 48]))["features"];

        Assert.Equal(new long[] { 1, 128, 4, 6 }, features.Shape);
    }

    [Theory]
    [InlineData(64, 96)]
    [InlineData(72, 104)] // layer2's grid 9 x 13: odd sides, layer3 has to be resized to it
    public void Encoder_Layer2And3_ConcatenatesUnitNormParts(int height, int width)
    {
        var folder = NewScratchFolder();
        EmbeddedModel.Build(folder, new EmbeddedModelOptions { Layer = EmbeddedModelOptions.Layer2And3, Stride = 8 }, EmbeddedModel.DefaultSourcePath);
        Assert.Equal(384, ModelManifest.Read(Path.Combine(folder, "model.json")).FeatureChannels);

        using var session = new InferenceSession(Path.Combine(folder, "encoder.onnx"));
        var random = new Random(13);
        var image = Enumerable.Range(0, 3 * height * width).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();
        var features = Ort.Run(session, ("image", image, [1, 3, height, width]))["features"];

        Assert.Equal(new long[] { 1, 384, height / 8, width / 8 }, features.Shape);
        var cells = height / 8 * (width / 8);
        for (int cell = 0; cell < cells; cell++)
        {
            // Each part has norm 1/sqrt(2) (or 0 where a ReLU left nothing), so the whole has norm 1.
            double l2 = 0, l3 = 0;
            for (int c = 0; c < 128; c++) l2 += Math.Pow(features.Data[c * cells + cell], 2);
            for (int c = 128; c < 384; c++) l3 += Math.Pow(features.Data[c * cells + cell], 2);
            Assert.True(l2 < 1e-9 || Math.Abs(l2 - 0.5) < 1e-4, $"layer2 part: {l2}");
            Assert.True(l3 < 1e-9 || Math.Abs(l3 - 0.5) < 1e-4, $"layer3 part: {l3}");
        }
    }

    [Theory]
    [InlineData("layer4", 16)]
    [InlineData("layer2", 16)]
    [InlineData("layer3", 4)]
    public void Options_RejectUnknownLayersAndStrides(string layer, int stride)
    {
        var options = new EmbeddedModelOptions { Layer = layer, Stride = stride };
        Assert.Throws<ArgumentException>(options.Validate);
    }

    /// <summary>
    /// Label propagation written as loops: every memory cell within the radius, top k, softmax,
    /// weighted labels; only from the memory frames <paramref name="reads"/> accepts (all by default).
    /// </summary>
    private static float[] NaiveLabelPropagation(float[] target, float[] memory, float[] labels, int m, int c, int l, int h, int w, LabelPropagationOptions options,
        Func<int, bool>? reads = null)
    {
        int cells = h * w;
        float Cosine(float[] a, int aFrame, int aCell, float[] b, int bFrame, int bCell)
        {
            double dot = 0, na = 0, nb = 0;
            for (int ch = 0; ch < c; ch++)
            {
                double x = a[(aFrame * c + ch) * cells + aCell], y = b[(bFrame * c + ch) * cells + bCell];
                dot += x * y; na += x * x; nb += y * y;
            }
            return (float)(dot / (Math.Sqrt(na) * Math.Sqrt(nb)));
        }
        var result = new float[l * cells];
        for (int cell = 0; cell < cells; cell++)
        {
            int y = cell / w, x = cell % w;
            var candidates = new List<(float Score, int Frame, int Cell)>();
            for (int frame = 0; frame < m; frame++)
                for (int other = 0; other < cells && (reads?.Invoke(frame) ?? true); other++)
                {
                    int dy = other / w - y, dx = other % w - x;
                    if (dy * dy + dx * dx <= options.Radius * options.Radius)
                        candidates.Add((Cosine(target, 0, cell, memory, frame, other), frame, other));
                }
            var top = candidates.OrderByDescending(k => k.Score).Take(options.TopK).ToList();
            var max = top.Max(k => k.Score);
            var weights = top.Select(k => Math.Exp((k.Score - max) / options.Temperature)).ToList();
            var total = weights.Sum();
            for (int i = 0; i < top.Count; i++)
                for (int label = 0; label < l; label++)
                    result[label * cells + cell] += (float)(weights[i] / total * labels[(top[i].Frame * l + label) * cells + top[i].Cell]);
        }
        return result;
    }

    [Fact]
    public void EnsureBuilt_Again_ReusesTheCachedBundle()
    {
        var before = Directory.GetFiles(bundle.Folder).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        var folder = EmbeddedModel.EnsureBuilt(bundle.CacheRoot, NullLogger.Instance, EmbeddedBundleFixture.Layer3Options);

        // Same folder, no file rewritten: the cache was used, not rebuilt.
        Assert.Equal(bundle.Folder, folder);
        Assert.Equal(before, Directory.GetFiles(folder).ToDictionary(f => f, File.GetLastWriteTimeUtc));
    }

    [Fact]
    public void EnsureBuilt_WithOtherOptions_BuildsBesideTheDefaultAndConcurrentCallersAgree()
    {
        var root = NewScratchFolder();
        var options = new EmbeddedModelOptions { TopK = 5, Temperature = 0.1f, Radius = 6 };

        var folders = Enumerable.Range(0, 4).AsParallel().WithDegreeOfParallelism(4)
            .Select(_ => EmbeddedModel.EnsureBuilt(root, NullLogger.Instance, options)).ToArray();
        Assert.Single(folders.Distinct());
        Assert.Contains("top-5", ModelManifest.Read(Path.Combine(folders[0], "model.json")).Description);

        var variantBuilt = File.GetLastWriteTimeUtc(Path.Combine(folders[0], "model.json"));
        var defaults = EmbeddedModel.EnsureBuilt(root, NullLogger.Instance);
        Assert.Equal(EmbeddedModel.Name, Path.GetFileName(defaults));
        Assert.Contains($"top-{new EmbeddedModelOptions().TopK},", ModelManifest.Read(Path.Combine(defaults, "model.json")).Description);

        // The variant is still there, not rebuilt, beside the defaults; no staging or retired folders.
        Assert.Equal(folders[0], EmbeddedModel.EnsureBuilt(root, NullLogger.Instance, options));
        Assert.Equal(variantBuilt, File.GetLastWriteTimeUtc(Path.Combine(folders[0], "model.json")));
        Assert.Equal(new[] { EmbeddedModel.Name, Path.GetFileName(folders[0]) }.Order(), Directory.GetDirectories(root).Select(d => Path.GetFileName(d)).Order());
    }

    /// <param name="visible">[G, M] further groups of memory frames (1 = read), for a grouped decoder; null for a plain one.</param>
    private static (float[] Data, long[] Shape) RunDecoder(string path, float[] features, long[] featureShape,
        float[] memoryFeatures, float[] memoryLabels, int memoryCount, int labelCount, float[]? visible = null)
    {
        using var session = new InferenceSession(path);
        long[] memoryShape = [memoryCount, featureShape[1], featureShape[2], featureShape[3]];
        long[] labelShape = [memoryCount, labelCount, featureShape[2], featureShape[3]];
        List<(string, float[], long[])> inputs =
        [
            ("features", features, featureShape),
            ("memory_features", memoryFeatures, memoryShape),
            ("memory_labels", memoryLabels, labelShape),
        ];
        if (visible is not null)
            inputs.Add((DenseDecoderInputs.MemoryVisible, visible, [visible.Length / memoryCount, memoryCount]));
        return Ort.Run(session, [.. inputs])["labels"];
    }

    /// <summary>Standard normal samples (Box-Muller): random directions in feature space.</summary>
    private static float[] Gaussian(Random random, int count) =>
        Enumerable.Range(0, count)
            .Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())))
            .ToArray();

    /// <summary>[L, cells] label maps that sum to 1 over L at every cell.</summary>
    private static float[] SoftLabels(Random random, int labelCount, int cells)
    {
        var labels = Enumerable.Range(0, labelCount * cells).Select(_ => (float)random.NextDouble()).ToArray();
        for (int cell = 0; cell < cells; cell++)
        {
            float sum = 0;
            for (int l = 0; l < labelCount; l++) sum += labels[l * cells + cell];
            for (int l = 0; l < labelCount; l++) labels[l * cells + cell] /= sum;
        }
        return labels;
    }

    /// <summary>A bundle of the shipped defaults, built in a scratch folder.</summary>
    private string DefaultBundle()
    {
        var folder = NewScratchFolder();
        EmbeddedModel.Build(folder, new EmbeddedModelOptions(), EmbeddedModel.DefaultSourcePath);
        return folder;
    }

    private string NewScratchFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "sinegrpc-embedded-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        _scratch.Add(folder);
        return folder;
    }
}
