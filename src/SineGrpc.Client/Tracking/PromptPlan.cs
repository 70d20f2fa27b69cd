using SineGrpc.Client.Masks;
using Sine.V1;

namespace SineGrpc.Client.Tracking;

/// <summary>Which prompts go with which frame: --mask on the first frame, --prompts files by frame name.</summary>
internal sealed class PromptPlan
{
    private readonly string? _firstFrameMask;
    private readonly Prompt? _firstFramePrompt;
    private readonly Dictionary<string, string> _promptFiles;
    private readonly HashSet<string> _usedNames = new(StringComparer.Ordinal);

    private PromptPlan(string? firstFrameMask, Dictionary<string, string> promptFiles)
    {
        _firstFrameMask = firstFrameMask is null ? null : Path.GetFullPath(firstFrameMask);
        // Read the first frame's mask now, so a bad mask fails before anything is sent.
        _firstFramePrompt = firstFrameMask is null ? null : MaskPrompts.FromFile(firstFrameMask);
        _promptFiles = promptFiles;
    }

    public static PromptPlan Create(string? firstFrameMask, string? promptsFolder)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        if (promptsFolder is not null)
        {
            foreach (var path in Directory.EnumerateFiles(promptsFolder, "*.png", new EnumerationOptions { MatchCasing = MatchCasing.CaseInsensitive }))
            {
                // Each file is read only on its frame, but ids the output cannot hold are refused now, before anything is sent.
                MaskPrompts.CheckIdsFit(path);
                files[Path.GetFileNameWithoutExtension(path)] = Path.GetFullPath(path);
            }
        }
        return new PromptPlan(firstFrameMask, files);
    }

    /// <summary>The --mask's prompt (its PNG bytes as read), or null without --mask.</summary>
    public Prompt? FirstFramePrompt => _firstFramePrompt;

    /// <summary>How many prompt files the --prompts folder holds.</summary>
    public int PromptFileCount => _promptFiles.Count;

    /// <summary>Whether a frame has been given a prompt yet (the --mask, or a prompt file).</summary>
    public bool AnyPromptSent { get; private set; }

    /// <summary>Whether a prompt file is named after one of these frames.</summary>
    public bool MatchesAnyFrame(IEnumerable<string> frameNames) => frameNames.Any(_promptFiles.ContainsKey);

    /// <summary>The prompts to send with a frame (frame 0 is the first frame sent).</summary>
    public IReadOnlyList<Prompt> ForFrame(ulong index, string name)
    {
        var prompts = new List<Prompt>();
        if (index == 0 && _firstFramePrompt is not null)
        {
            prompts.Add(_firstFramePrompt);
        }
        if (_promptFiles.TryGetValue(name, out var path))
        {
            _usedNames.Add(name);
            // The same file given as --mask and found in --prompts is sent once.
            if (!(index == 0 && path == _firstFrameMask))
            {
                prompts.Add(MaskPrompts.FromFile(path));
            }
        }
        AnyPromptSent |= prompts.Count > 0;
        return prompts;
    }

    /// <summary>Prompt files whose name matched no frame that was sent.</summary>
    public IReadOnlyList<string> UnusedPromptFiles() =>
        [.. _promptFiles.Where(p => !_usedNames.Contains(p.Key)).Select(p => p.Value)];
}
