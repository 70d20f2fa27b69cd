using Sine.V1;
using SineGrpc.Engine;
using SineGrpc.Engine.Memory;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Tracking;

namespace SineGrpc.Server.Mapping;

/// <summary>Reads the API's stream options, filling unset fields from the model's defaults.</summary>
internal static class OptionsReader
{
    public static MemoryPolicy Memory(MemoryOptions? options, LoadedModel model, int maxCapacity)
    {
        var defaults = model.DefaultPolicy;
        if (options is null)
            return defaults;
        var decayRatio = options.Decay switch
        {
            DecayType.None => 0f,
            DecayType.Unspecified or DecayType.Linear => options.DecayRatio != 0 ? options.DecayRatio : defaults.DecayRatio,
            _ => throw new InvalidInputException($"memory.decay {options.Decay} is not supported"),
        };
        var policy = new MemoryPolicy(
            options.Capacity == 0 ? defaults.Capacity : checked((int)options.Capacity),
            options.FixFirstFrame ?? defaults.FixFirstFrame,
            decayRatio);
        policy.Validate(maxCapacity);
        return policy;
    }

    public static OutputSpec Output(OutputOptions? options, long maxPixels)
    {
        if (options is null)
            return new OutputSpec(0, 0, Exclusive: false);
        if (options.MaskEncoding is not (MaskEncoding.Unspecified or MaskEncoding.CocoRle or MaskEncoding.Png))
            throw new InvalidInputException($"output.mask_encoding {options.MaskEncoding} is not supported");
        if (options.Layout is not (MaskLayout.Unspecified or MaskLayout.PerObject or MaskLayout.Index))
            throw new InvalidInputException($"output.layout {options.Layout} is not supported");
        if ((long)options.Width * options.Height > maxPixels)
            throw new InvalidInputException($"output size {options.Width}x{options.Height} is over the limit of {maxPixels} pixels");
        return new OutputSpec(checked((int)options.Width), checked((int)options.Height), options.Layout == MaskLayout.Index, options.IncludeLogits);
    }
}
