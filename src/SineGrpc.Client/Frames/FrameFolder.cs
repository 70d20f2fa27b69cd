using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Frames;

/// <summary>The image files of a frame folder, in frame order.</summary>
internal static class FrameFolder
{
    private static readonly HashSet<string> ImageExtensions = new([".jpg", ".jpeg", ".png", ".webp"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Paths of the folder's images, sorted by file name (ordinal, so zero-padded numbers sort as numbers).
    /// Frame names are the file stems and must be unique, because they name the output masks.
    /// </summary>
    public static IReadOnlyList<string> ListFrames(string folder)
    {
        var files = Directory.EnumerateFiles(folder)
            .Where(path => ImageExtensions.Contains(Path.GetExtension(path)) && !Path.GetFileName(path).StartsWith('.'))
            .OrderBy(Path.GetFileName, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new CliException($"no frames (.jpg .jpeg .png .webp) in folder {folder}");
        }

        var duplicate = files.GroupBy(Path.GetFileNameWithoutExtension, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new CliException(
                $"frames {string.Join(" and ", duplicate.Select(Path.GetFileName))} in {folder} have the same name; each frame's name must be unique");
        }
        return files;
    }

    /// <summary>The frame's name: its file name without the extension.</summary>
    public static string FrameName(string path) => Path.GetFileNameWithoutExtension(path);
}
