using SineGrpc.Engine.Models;
using SineGrpc.Engine.Models.Onnx;

namespace SineGrpc.Engine.Tests.TestModels;

/// <summary>
/// A tiny, deterministic tokens-kind bundle (DESIGN.md §3) for exercising the SINE
/// token path mechanically. It segments nothing well; what matters is that pooling
/// is exactly SINE's and that a token equal to a region's feature lights that region.
/// </summary>
public static class TokenTestBundle
{
    public const string Name = "token-test";
    public const int Size = 128;
    public const int Channels = 8;
    public const int FeatureStride = 8;
    public const int MaskStride = 2;

    /// <summary>What <c>id_masks</c> is centred on: cosine above this gives a positive logit.</summary>
    public const float CosineThreshold = 0.8f;
    public const float MaskGain = 20f;

    /// <summary>Added after the ReLU so that no feature vector is all zero (cosine needs a norm).</summary>
    public const float FeatureOffset = 0.1f;

    /// <summary>
    /// The 1x1 convolution 3 -> 8: each colour channel's positive and negative part,
    /// then the grey level's. Colours that differ therefore give features that differ in direction.
    /// </summary>
    public static readonly float[,] ConvWeights =
    {
        { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 },
        { -1, 0, 0 }, { 0, -1, 0 }, { 0, 0, -1 },
        { 1f / 3, 1f / 3, 1f / 3 }, { -1f / 3, -1f / 3, -1f / 3 },
    };

    /// <summary>Writes model.json, encoder.onnx, pool.onnx and decoder.onnx into <paramref name="folder"/> and returns it.</summary>
    public static string Build(string folder)
    {
        Directory.CreateDirectory(folder);
        var manifest = Manifest();
        BuildEncoder().Save(Path.Combine(folder, manifest.Files.Encoder));
        BuildPool().Save(Path.Combine(folder, manifest.Files.Pool!));
        BuildDecoder().Save(Path.Combine(folder, manifest.Files.Decoder));
        manifest.Write(Path.Combine(folder, "model.json"));
        return folder;
    }

    public static ModelManifest Manifest() => new()
    {
        Name = Name,
        Description = "Test bundle: 8x8 average pooling + fixed 1x1 conv encoder, cosine prototype decoder.",
        License = "MIT",
        MemoryKind = MemoryKinds.Tokens,
        InputSize = Size,
        PadSize = Size,
        ChannelOrder = "rgb",
        PixelScale = 1f / 255f,
        Mean = [0.485f, 0.456f, 0.406f],
        Std = [0.229f, 0.224f, 0.225f],
        FeatureChannels = Channels,
        FeatureStride = FeatureStride,
        MaskStride = MaskStride,
        InstanceSource = "connected-components",
        Files = new ComponentFiles { Pool = "pool.onnx" },
    };

    /// <summary><c>image</c> [B,3,S,S] -> <c>features</c> [B,8,S/8,S/8] = relu(conv1x1(avgpool8(image))) + 0.1.</summary>
    private static OnnxGraphBuilder BuildEncoder()
    {
        var g = new OnnxGraphBuilder("token_test_encoder");
        var image = g.Input("image", "batch", 3, "height", "width");
        var pooled = g.Node("AveragePool", [image], Attr.Ints("kernel_shape", FeatureStride, FeatureStride), Attr.Ints("strides", FeatureStride, FeatureStride));
        var weights = g.FloatTensor(ConvWeights.Cast<float>().ToArray(), [Channels, 3, 1, 1]);
        var projected = g.Node("Conv", [pooled, weights], Attr.Ints("kernel_shape", 1, 1));
        var features = g.Node("Add", [g.Node("Relu", [projected]), g.Float(FeatureOffset)]);
        g.Output(features, "features", "batch", Channels, "feature_height", "feature_width");
        return g;
    }

    /// <summary>
    /// SINE's mask pooling: features and masks resized bilinearly (half-pixel, as
    /// PyTorch's align_corners=False) to 4h x 4w, masks binarised with &gt; 0, then
    /// <c>sums</c> [K,C] = sum of F*m and <c>areas</c> [K] = sum of m.
    /// </summary>
    private static OnnxGraphBuilder BuildPool()
    {
        var g = new OnnxGraphBuilder("token_test_pool");
        var features = g.Input("features", 1, Channels, "height", "width");
        var masks = g.Input("masks", "k", 1, "image_height", "image_width");

        var maskSize = MaskFeatureSize(g, features);
        var resizedFeatures = ResizeTo(g, features, maskSize);                             // [1,C,4h,4w]
        var resizedMasks = ResizeTo(g, masks, maskSize);                                   // [K,1,4h,4w]
        var binary = g.Node("Cast", [g.Node("Greater", [resizedMasks, g.Float(0f)])], Attr.Int("to", (long)Onnx.TensorProto.Types.DataType.Float));

        var maskRows = g.Node("Flatten", [binary], Attr.Int("axis", 1));                    // [K, P]
        var featureColumns = g.Node("Transpose", [g.Node("Flatten", [resizedFeatures], Attr.Int("axis", 2))], Attr.Ints("perm", 1, 0)); // [P, C]
        var sums = g.Node("MatMul", [maskRows, featureColumns]);
        var areas = g.Node("ReduceSum", [maskRows, g.Int64s(1)], Attr.Int("keepdims", 0));
        g.Output(sums, "sums", "k", Channels);
        g.Output(areas, "areas", "k");
        return g;
    }

    /// <summary>
    /// Cosine prototype decoder: <c>id_masks</c> = 20 (cos - 0.8) between every token and
    /// every pixel of the upsampled features; <c>id_logits</c> = [max of the token's mask, 0].
    /// </summary>
    private static OnnxGraphBuilder BuildDecoder()
    {
        var g = new OnnxGraphBuilder("token_test_decoder");
        var features = g.Input("features", 1, Channels, "height", "width");
        var tokens = g.Input("id_tokens", 1, "n", Channels);

        var maskSize = MaskFeatureSize(g, features);
        var pixels = Normalise(g, ResizeTo(g, features, maskSize), axis: 1);               // [1,C,4h,4w]
        var prototypes = Normalise(g, tokens, axis: 2);                                    // [1,N,C]
        var cosine = g.Node("MatMul", [prototypes, g.Node("Reshape", [pixels, g.Int64s(0, 0, -1)])]); // [1,N,P]
        var logits = g.Node("Mul", [g.Node("Sub", [cosine, g.Float(CosineThreshold)]), g.Float(MaskGain)]);

        var masks = g.Node("Reshape", [logits, g.Node("Concat", [g.Int64s(0, 0), maskSize], Attr.Int("axis", 0))]);
        var present = g.Node("ReduceMax", [logits], Attr.Ints("axes", 2), Attr.Int("keepdims", 1)); // [1,N,1]
        var absent = g.Node("Mul", [present, g.Float(0f)]);
        var idLogits = g.Node("Concat", [present, absent], Attr.Int("axis", 2));
        g.Output(idLogits, "id_logits", 1, "n", 2);
        g.Output(masks, "id_masks", 1, "n", "mask_height", "mask_width");
        return g;
    }

    /// <summary>[4h, 4w] of an [N,C,h,w] feature tensor, as a 1-D int64 value.</summary>
    private static string MaskFeatureSize(OnnxGraphBuilder g, string features)
    {
        var featureSize = g.Node("Gather", [g.Node("Shape", [features]), g.Int64s(2, 3)], Attr.Int("axis", 0));
        return g.Node("Mul", [featureSize, g.Int64s(FeatureStride / MaskStride, FeatureStride / MaskStride)]);
    }

    /// <summary>Bilinear resize of the last two axes of an [N,C,H,W] tensor to <paramref name="size"/>, like PyTorch's align_corners=False.</summary>
    private static string ResizeTo(OnnxGraphBuilder g, string x, string size)
    {
        var leading = g.Node("Gather", [g.Node("Shape", [x]), g.Int64s(0, 1)], Attr.Int("axis", 0));
        var sizes = g.Node("Concat", [leading, size], Attr.Int("axis", 0));
        return g.Node("Resize", [x, "", "", sizes],
            Attr.String("mode", "linear"), Attr.String("coordinate_transformation_mode", "half_pixel"));
    }

    private static string Normalise(OnnxGraphBuilder g, string x, long axis)
    {
        var norm = g.Node("ReduceL2", [x], Attr.Ints("axes", axis), Attr.Int("keepdims", 1));
        return g.Node("Div", [x, g.Node("Max", [norm, g.Float(1e-6f)])]);
    }
}
