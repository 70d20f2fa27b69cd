using System.Text;

namespace SineGrpc.Client.Cli;

/// <summary>
/// An option a command accepts: <c>--name value</c>, or a flag when <paramref name="ValueName"/> is null;
/// one that <paramref name="Repeatable"/> may be given several times (its values kept in order).
/// </summary>
internal sealed record OptionSpec(string Name, string? ValueName, string Description, bool Repeatable = false)
{
    public bool TakesValue => ValueName is not null;
}

/// <summary>A command's name, options and help text.</summary>
internal sealed record CommandSpec(string Name, string Usage, string Description, IReadOnlyList<OptionSpec> Options)
{
    public string FormatHelp()
    {
        var help = new StringBuilder();
        help.AppendLine($"Usage: {Usage}");
        help.AppendLine();
        help.AppendLine(Description);
        help.AppendLine();
        help.AppendLine("Options:");

        var labels = Options.Select(o => o.TakesValue ? $"--{o.Name} <{o.ValueName}>" : $"--{o.Name}").ToList();
        labels.Add("-h, --help");
        var width = labels.Max(l => l.Length) + 2;
        for (var i = 0; i < Options.Count; i++)
        {
            // Continuation lines of a long description line up under its first line.
            var description = Options[i].Description.Replace("\n", "\n" + new string(' ', width + 2));
            help.AppendLine($"  {labels[i].PadRight(width)}{description}");
        }
        help.Append($"  {labels[^1].PadRight(width)}Show this help");
        return help.ToString();
    }
}
