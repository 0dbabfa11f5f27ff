using System.Linq.Expressions;
using Microsoft.Extensions.VectorData.ProviderServices;
using RagTune.Rag.Store;

namespace RagTune.VectorData;

/// <summary>
/// LINQ filters to the store's <see cref="SearchFilter"/>: equality of a metadata (data) property with a value, or a
/// bool property alone or negated, joined by <c>&amp;&amp;</c>. Anything else is refused with the expression named, never
/// evaluated in memory after the fact (a top-k search filtered afterwards would silently return fewer results).
/// </summary>
internal static class FilterTranslator
{
    /// <summary>The filter, or null when the conditions contradict each other (nothing can match).</summary>
    public static SearchFilter? Translate(LambdaExpression? filter, RecordModel model)
    {
        if (filter is null) return SearchFilter.None;
        var conditions = new Dictionary<string, string>(StringComparer.Ordinal);
        bool possible = true;
        Visit(filter.Body, filter.Parameters[0], model, conditions, ref possible);
        return possible ? new SearchFilter(conditions) : null;
    }

    private static void Visit(Expression e, ParameterExpression record, RecordModel model, Dictionary<string, string> conditions, ref bool possible)
    {
        switch (e)
        {
            case BinaryExpression { NodeType: ExpressionType.AndAlso } and:
                Visit(and.Left, record, model, conditions, ref possible);
                Visit(and.Right, record, model, conditions, ref possible);
                return;
            case BinaryExpression { NodeType: ExpressionType.Equal } eq:
                if (Property(eq.Left, record, model) is { } left && IsValue(eq.Right, record)) { Add(left, Evaluate(eq.Right), e, conditions, ref possible); return; }
                if (Property(eq.Right, record, model) is { } right && IsValue(eq.Left, record)) { Add(right, Evaluate(eq.Left), e, conditions, ref possible); return; }
                break;
            case MemberExpression when e.Type == typeof(bool) && Property(e, record, model) is { } flag:
                Add(flag, true, e, conditions, ref possible);
                return;
            case UnaryExpression { NodeType: ExpressionType.Not, Operand: MemberExpression m } when m.Type == typeof(bool) && Property(m, record, model) is { } unset:
                Add(unset, false, e, conditions, ref possible);
                return;
        }
        throw Unsupported(e);
    }

    private static void Add(PropertyModel property, object? value, Expression e, Dictionary<string, string> conditions, ref bool possible)
    {
        if (value is null)
            throw new NotSupportedException($"The filter '{e}' compares with null; RagTune collections filter on stored metadata values only.");
        var text = RecordModel.Format(value);
        if (conditions.TryGetValue(property.StorageName, out var existing) && existing != text) possible = false;
        conditions[property.StorageName] = text;
    }

    // r.Prop (possibly through a conversion, as the compiler writes for nullable or enum comparisons).
    private static PropertyModel? Property(Expression e, ParameterExpression record, RecordModel model)
    {
        while (e is UnaryExpression { NodeType: ExpressionType.Convert } u) e = u.Operand;
        if (e is MemberExpression m && m.Expression == record && model.Model.PropertyMap.TryGetValue(m.Member.Name, out var p))
        {
            if (p is KeyPropertyModel)
                throw new NotSupportedException($"The filter '{e}' tests the key; look records up by key with GetAsync instead.");
            if (p is VectorPropertyModel) throw Unsupported(e);
            if (p == model.Text)
                throw new NotSupportedException($"The filter '{e}' tests the chunk text; search the text with HybridSearchAsync keywords instead.");
            return p;
        }
        // r["Prop"] on dynamic (dictionary) records.
        if (e is MethodCallExpression { Method.Name: "get_Item", Arguments: [ConstantExpression { Value: string name }] } call && call.Object == record
            && model.Model.PropertyMap.TryGetValue(name, out var dp) && dp is DataPropertyModel && dp != model.Text)
            return dp;
        return null;
    }

    private static bool IsValue(Expression e, ParameterExpression record) => !new ParameterFinder(record).Finds(e);

    private static object? Evaluate(Expression e) =>
        e is ConstantExpression c ? c.Value : Expression.Lambda(e).Compile(preferInterpretation: true).DynamicInvoke();

    private static NotSupportedException Unsupported(Expression e) =>
        new($"The filter expression '{e}' is not supported by RagTune collections: use equality of a data property with a value (r.Lang == \"en\"), a bool property (r.IsPublic, !r.IsPublic), joined by &&.");

    private sealed class ParameterFinder(ParameterExpression record) : ExpressionVisitor
    {
        private bool _found;

        public bool Finds(Expression e)
        {
            Visit(e);
            return _found;
        }

        protected override Expression VisitParameter(ParameterExpression node)
        {
            if (node == record) _found = true;
            return node;
        }
    }
}
