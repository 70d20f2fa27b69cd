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
        if (options.Capacity > maxCapacity)
            throw new InvalidInputException($"memory capacity must be between 1 and {maxCapacity}, not {options.Capacity}");
        var policy = new MemoryPolicy(
            options.Capacity == 0 ? defaults.Capacity : (int)options.Capacity,
            options.FixFirstFrame ?? defaults.FixFirstFrame,
            decayRatio);
        policy.Validate(maxCapacity);
        return policy;
    }

    public static OutputSpec Output(OutputOptions? options, long maxPixels)
    {
        if (options is null)
            return new OutputSpec(0, 0, Exclusive: false, MaxPixels: maxPixels);
        if (options.MaskEncoding is not (MaskEncoding.Unspecified or MaskEncoding.CocoRle or MaskEncoding.Png))
            throw new InvalidInputException($"output.mask_encoding {options.MaskEncoding} is not supported");
        if (options.Layout is not (MaskLayout.Unspecified or MaskLayout.PerObject or MaskLayout.Index))
            throw new InvalidInputException($"output.layout {options.Layout} is not supported");
        // One side alone may be given (the other follows each frame's aspect): it must fit too.
        if ((long)options.Width * options.Height > maxPixels || options.Width > maxPixels || options.Height > maxPixels
            || options.Width > int.MaxValue || options.Height > int.MaxValue)
            throw new InvalidInputException($"output size {options.Width}x{options.Height} is over the limit of {maxPixels} pixels");
        return new OutputSpec((int)options.Width, (int)options.Height, options.Layout == MaskLayout.Index, options.IncludeLogits, maxPixels);
    }
}
