using Microsoft.ML.OnnxRuntime;
using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tests.TestModels;

public sealed class TokenTestBundleTests : IDisposable
{
    private const int C = TokenTestBundle.Channels;
    private const int S = TokenTestBundle.Size;
    private const int FeatureSide = S / TokenTestBundle.FeatureStride; // 16
    private const int MaskSide = S / TokenTestBundle.MaskStride;       // 64

    private readonly string _folder = TokenTestBundle.Build(Path.Combine(Path.GetTempPath(), "sinegrpc-tokens-" + Guid.NewGuid().ToString("N")));

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Manifest_IsAValidTokensBundle()
    {
        var manifest = ModelManifest.Read(Path.Combine(_folder, "model.json"));

        Assert.Equal(MemoryKinds.Tokens, manifest.MemoryKind);
        Assert.Equal((128, 128, 8, 8, 2), (manifest.InputSize, manifest.PadSize, manifest.FeatureChannels, manifest.FeatureStride, manifest.MaskStride));
        Assert.Equal("pool.onnx", manifest.Files.Pool);
        foreach (var file in new[] { manifest.Files.Encoder, manifest.Files.Decoder, manifest.Files.Pool! })
            Assert.True(File.Exists(Path.Combine(_folder, file)), file);
    }

    [Fact]
    public void Encoder_SolidColour_GivesTheHandComputedFeatureEverywhere()
    {
        using var session = Open("encoder.onnx");
        float[] colour = [0.5f, -1f, 2f];
        var image = new float[2 * 3 * S * S];
        for (int i = 0; i < image.Length; i++)
            image[i] = colour[i / (S * S) % 3];

        var features = Ort.Run(session, ("image", image, [2, 3, S, S]))["features"];

        Assert.Equal(new long[] { 2, C, FeatureSide, FeatureSide }, features.Shape);
        // relu(W x) + 0.1 with x = (0.5, -1, 2), grey = 0.5.
        float[] expected = [0.6f, 0.1f, 2.1f, 0.1f, 1.1f, 0.1f, 0.6f, 0.1f];
        for (int i = 0; i < features.Data.Length; i++)
            Assert.Equal(expected[i / (FeatureSide * FeatureSide) % C], features.Data[i], 1e-5f);
    }

    [Fact]
    public void Pool_ConstantFeatures_GiveValueTimesArea()
    {
        using var session = Open("pool.onnx");
        // Channel c holds the constant c + 1.
        var features = Enumerable.Range(0, C * FeatureSide * FeatureSide).Select(i => (float)(i / (FeatureSide * FeatureSide) + 1)).ToArray();
        // Mask 0: a 32x32 block at even coordinates, which halves to exactly 16x16 = 256
        // mask-feature pixels. Mask 1: empty. Mask 2: everything, 64x64.
        var masks = new float[3 * S * S];
        for (int y = 10; y < 42; y++)
            for (int x = 20; x < 52; x++)
                masks[y * S + x] = 1f;
        Array.Fill(masks, 1f, 2 * S * S, S * S);

        var outputs = Ort.Run(session, ("features", features, [1, C, FeatureSide, FeatureSide]), ("masks", masks, [3, 1, S, S]));

        Assert.Equal(new long[] { 3, C }, outputs["sums"].Shape);
        Assert.Equal(new long[] { 3 }, outputs["areas"].Shape);
        Assert.Equal(new[] { 256f, 0f, MaskSide * MaskSide }, outputs["areas"].Data);
        for (int c = 0; c < C; c++)
        {
            Assert.Equal((c + 1) * 256f, outputs["sums"].Data[0 * C + c], 1e-2f);
            Assert.Equal(0f, outputs["sums"].Data[1 * C + c]);
            Assert.Equal((c + 1) * MaskSide * MaskSide, outputs["sums"].Data[2 * C + c], 1e-1f);
        }
    }

    [Fact]
    public void Pool_BinarisesAfterResizing_SoPartialPixelsCount()
    {
        using var session = Open("pool.onnx");
        var features = Enumerable.Repeat(1f, C * FeatureSide * FeatureSide).ToArray();
        // One input pixel at an odd position: half-pixel bilinear downscaling by 2 gives
        // mask-feature pixel 30 a quarter of it in each direction, and > 0 keeps it.
        var masks = new float[S * S];
        masks[61 * S + 61] = 1f;

        var outputs = Ort.Run(session, ("features", features, [1, C, FeatureSide, FeatureSide]), ("masks", masks, [1, 1, S, S]));

        Assert.Equal(1f, outputs["areas"].Data[0]);
        Assert.Equal(1f, outputs["sums"].Data[0], 1e-5f);
    }

    [Fact]
    public void Decoder_TokenEqualToARegionsFeature_MarksThatRegion()
    {
        using var session = Open("decoder.onnx");
        // Left half of the feature map is a, right half is b (orthogonal directions).
        float[] a = [1, 0, 0, 0, 0, 0, 0.2f, 0], b = [0, 0, 0, 1, 1, 0, 0, 0];
        var features = new float[C * FeatureSide * FeatureSide];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < FeatureSide; y++)
                for (int x = 0; x < FeatureSide; x++)
                    features[(c * FeatureSide + y) * FeatureSide + x] = x < FeatureSide / 2 ? a[c] : b[c];
        // Token 0 is a (scaled: only the direction matters), token 1 is b.
        var tokens = a.Select(v => 3 * v).Concat(b).ToArray();

        var outputs = Ort.Run(session, ("features", features, [1, C, FeatureSide, FeatureSide]), ("id_tokens", tokens, [1, 2, C]));

        var masks = outputs["id_masks"];
        Assert.Equal(new long[] { 1, 2, MaskSide, MaskSide }, masks.Shape);
        Assert.Equal(new long[] { 1, 2, 2 }, outputs["id_logits"].Shape);
        float At(int token, int y, int x) => masks.Data[(token * MaskSide + y) * MaskSide + x];
        foreach (var (y, x) in new[] { (0, 0), (32, 10), (63, 25) })
        {
            Assert.Equal(TokenTestBundle.MaskGain * (1 - TokenTestBundle.CosineThreshold), At(0, y, x), 1e-4f);
            Assert.True(At(0, y, MaskSide - 1 - x) < 0);
            Assert.True(At(1, y, x) < 0);
            Assert.True(At(1, y, MaskSide - 1 - x) > 0);
        }
        // id_logits = [max of the token's mask logits, 0].
        Assert.Equal(new[] { 4f, 0f, 4f, 0f }, outputs["id_logits"].Data.Select(v => MathF.Round(v, 4)));
    }

    private InferenceSession Open(string file) => new(Path.Combine(_folder, file));
}
