using Sine.V1;
using SineGrpc.Engine.Models;

namespace SineGrpc.Server.Mapping;

/// <summary>Describes a loaded model as the API's <see cref="ModelInfo"/>.</summary>
internal static class ModelDescriber
{
    public static ModelInfo Describe(LoadedModel model, int maxMemoryCapacity)
    {
        var m = model.Manifest;
        return new ModelInfo
        {
            Name = m.Name,
            Version = m.Version,
            Description = m.Description,
            License = m.License,
            MemoryKind = m.MemoryKind,
            InputSize = (uint)m.InputSize,
            PadSize = (uint)m.PadSize,
            FeatureChannels = (uint)m.FeatureChannels,
            FeatureStride = (uint)m.FeatureStride,
            HasObjectMasks = true,
            InstanceSource = m.InstanceSource,
            DefaultMemory = new MemoryOptions
            {
                Capacity = (uint)m.Memory.Capacity,
                FixFirstFrame = m.Memory.FixFirstFrame,
                Decay = m.Memory.DecayRatio > 0 ? DecayType.Linear : DecayType.None,
                DecayRatio = m.Memory.DecayRatio,
            },
            ExecutionProvider = model.ExecutionProvider,
            MaxMemoryCapacity = (uint)maxMemoryCapacity,
            MaxPromptedFrames = (uint)model.MaxPromptedFrames,
        };
    }
}
